// SPDX-License-Identifier: MIT
// One ResNet-18 training step (examples/resnet/models.hpp, the book's network and recipe: SGD
// lr 0.05, batch 256) on a synthetic batch of 1-channel images, at Fashion-MNIST's native
// 28x28 and at the book's 96x96: forward, cross_entropy, zero_grad, backward, step.
#include <cstdint>
#include <vector>

#include <benchmark/benchmark.h>

#include "common.hpp"
#include "resnet/models.hpp"
#include "tapegrad/tapegrad.hpp"

namespace {

constexpr std::int64_t kBatch = 256;

void resnet_step(benchmark::State& state) {
  const std::int64_t size = state.range(0);
  tg::Generator gen(tg_bench::kSeed);
  auto net = resnet::resnet18(gen);
  tg::SGD optimizer(net->parameters(), 0.05);
  tg::Tensor images = tg::rand({kBatch, 1, size, size}, gen);
  std::vector<std::int64_t> labels(kBatch);
  for (auto& label : labels) label = static_cast<std::int64_t>(gen.uniform() * 10);
  for (auto _ : state) {
    tg::Tensor loss = tg::cross_entropy((*net)(images), labels);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
  state.counters["images"] =
      benchmark::Counter(static_cast<double>(kBatch), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(resnet_step)->Name("resnet/step")->Arg(28)->Arg(96)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
