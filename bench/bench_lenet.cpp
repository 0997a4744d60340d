// One LeNet training step on a synthetic batch (256 random 1x28x28 images, random labels):
// forward, cross_entropy, zero_grad, backward, optimizer step. No data loading: the images
// are made once, so only the network's own work is timed.
#include <cstdint>
#include <vector>

#include <benchmark/benchmark.h>

#include "common.hpp"
#include "lenet/models.hpp"
#include "tapegrad/tapegrad.hpp"

namespace {

using tg::Tensor;

constexpr std::int64_t kBatch = 256;

void train_steps(benchmark::State& state, tg::Sequential& net, tg::Optimizer& optimizer, tg::Generator& gen) {
  Tensor images = tg::rand({kBatch, 1, 28, 28}, gen);
  std::vector<std::int64_t> labels(kBatch);
  for (auto& label : labels) label = static_cast<std::int64_t>(gen.uniform() * 10);
  for (auto _ : state) {
    Tensor loss = tg::cross_entropy(net(images), labels);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
  state.counters["images"] =
      benchmark::Counter(static_cast<double>(kBatch), benchmark::Counter::kIsIterationInvariantRate);
}

// The classic recipe: SGD, lr 0.9.
void classic_step(benchmark::State& state) {
  tg::Generator gen(tg_bench::kSeed);
  auto net = lenet::classic_lenet(gen);
  tg::SGD optimizer(net->parameters(), 0.9);
  train_steps(state, *net, optimizer, gen);
}
BENCHMARK(classic_step)->Name("lenet/classic_step")->Unit(benchmark::kMillisecond)->UseRealTime();

// The modern recipe: Adam, lr 1e-3 (the same batch of 256; the example's default is 128).
void modern_step(benchmark::State& state) {
  tg::Generator gen(tg_bench::kSeed);
  auto net = lenet::modern_lenet(gen);
  tg::Adam optimizer(net->parameters(), 1e-3);
  train_steps(state, *net, optimizer, gen);
}
BENCHMARK(modern_step)->Name("lenet/modern_step")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
