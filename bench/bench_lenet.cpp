// SPDX-License-Identifier: MIT
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

// The classic network's gradient alone (forward, cross_entropy, tg::grad of the parameters),
// and a Hessian-vector product by double backward: the gradient with create_graph, then
// grad(g, params, grad_outputs = v). The ratio of the two is the cost of a second derivative.
struct ClassicLoss {
  tg::Generator gen{tg_bench::kSeed};
  std::shared_ptr<tg::Sequential> net = lenet::classic_lenet(gen);
  Tensor images = tg::rand({kBatch, 1, 28, 28}, gen);
  std::vector<std::int64_t> labels = std::vector<std::int64_t>(kBatch);
  ClassicLoss() {
    for (auto& label : labels) label = static_cast<std::int64_t>(gen.uniform() * 10);
  }
  Tensor operator()() { return tg::cross_entropy((*net)(images), labels); }
};

void classic_grad(benchmark::State& state) {
  ClassicLoss loss;
  std::vector<Tensor> params = loss.net->parameters();
  for (auto _ : state) benchmark::DoNotOptimize(tg::grad({loss()}, params));
}
BENCHMARK(classic_grad)->Name("lenet/classic_grad")->Unit(benchmark::kMillisecond)->UseRealTime();

void classic_hvp(benchmark::State& state) {
  ClassicLoss loss;
  std::vector<Tensor> params = loss.net->parameters(), v;
  for (const Tensor& p : params) v.push_back(tg::randn(p.shape(), loss.gen));
  for (auto _ : state) {
    std::vector<Tensor> g = tg::grad({loss()}, params, {.create_graph = true});
    benchmark::DoNotOptimize(tg::grad(g, params, {.grad_outputs = v}));
  }
}
BENCHMARK(classic_hvp)->Name("lenet/classic_hvp")->Unit(benchmark::kMillisecond)->UseRealTime();

// Forward mode on the same loss: the forward pass alone (nothing recorded), and the loss's
// derivative along one direction v of the parameters by a JVP (the parameters given tangents
// v inside a dual level, one forward pass computing the values and their tangents). The
// ratio of the two is the cost of forward mode.
void classic_forward(benchmark::State& state) {
  ClassicLoss loss;
  tg::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(loss());
}
BENCHMARK(classic_forward)->Name("lenet/classic_forward")->Unit(benchmark::kMillisecond)->UseRealTime();

void classic_jvp(benchmark::State& state) {
  ClassicLoss loss;
  std::vector<Tensor> params = loss.net->parameters(), v;
  for (const Tensor& p : params) v.push_back(tg::randn(p.shape(), loss.gen));
  tg::NoGradGuard no_grad;
  for (auto _ : state) {
    tg::DualLevel level;
    for (std::size_t k = 0; k < params.size(); ++k) tg::set_tangent(params[k], v[k]);
    benchmark::DoNotOptimize(tg::tangent(loss()));
  }
}
BENCHMARK(classic_jvp)->Name("lenet/classic_jvp")->Unit(benchmark::kMillisecond)->UseRealTime();

// The Hessian-vector product again, forward over reverse: the gradient computed inside a dual
// level in which the parameters carry v; the gradients' tangents are H v. Nothing is recorded
// by the backward pass.
void classic_hvp_fwd(benchmark::State& state) {
  ClassicLoss loss;
  std::vector<Tensor> params = loss.net->parameters(), v;
  for (const Tensor& p : params) v.push_back(tg::randn(p.shape(), loss.gen));
  for (auto _ : state) {
    tg::DualLevel level;
    for (std::size_t k = 0; k < params.size(); ++k) tg::set_tangent(params[k], v[k]);
    std::vector<Tensor> g = tg::grad({loss()}, params);
    for (const Tensor& gk : g) benchmark::DoNotOptimize(tg::tangent(gk));
  }
}
BENCHMARK(classic_hvp_fwd)->Name("lenet/classic_hvp_fwd")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
