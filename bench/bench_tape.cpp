// SPDX-License-Identifier: MIT
// The cost of the tape itself: ops on tensors so small that the arithmetic is free, so the
// time is recording entries, allocating results and replaying the entries backwards.
#include <cstdint>

#include <benchmark/benchmark.h>

#include "common.hpp"
#include "tapegrad/tapegrad.hpp"

namespace {

using tg::Tensor;

// The smallest complete training-like iteration: three ops, one backward, clear the gradient
// (PyTorch: `(a * a + a).sum().backward(); a.grad = None`).
void tiny_loop(benchmark::State& state) {
  tg::Generator gen(tg_bench::kSeed);
  Tensor a = tg::randn({2, 2}, gen, {.requires_grad = true});
  for (auto _ : state) {
    (a * a + a).sum().backward();
    a.set_grad(Tensor());
  }
}
BENCHMARK(tiny_loop)->Name("tape/tiny_loop")->Unit(benchmark::kMicrosecond)->UseRealTime();

// The seed experiment (examples/edge_detection, step 3): learn the kernel [[1, -1]] back
// from the 6x8 image X and Y = corr2d(X, K) with a fresh Conv2D and SGD (lr 0.01), 20 steps.
void seed_20_steps(benchmark::State& state) {
  Tensor X = tg::ones({6, 8});
  X.index_put_({tg::Slice(), tg::Slice(2, 6)}, 0);  // X[:, 2:6] = 0
  Tensor Y = tg::corr2d(X, Tensor{{1.0, -1.0}});
  tg::Generator gen(tg_bench::kSeed);
  for (auto _ : state) {
    tg::Conv2D conv2d({1, 2}, gen);
    tg::SGD optimizer(conv2d.parameters(), 0.01);
    for (int i = 0; i < 20; ++i) {
      Tensor l = (conv2d(X) - Y).square().sum();
      optimizer.zero_grad();
      l.backward();
      optimizer.step();
    }
    benchmark::DoNotOptimize(conv2d.weight.data<float>());
  }
}
BENCHMARK(seed_20_steps)->Name("tape/seed_20_steps")->Unit(benchmark::kMicrosecond)->UseRealTime();

// A chain of N elementwise ops, x = x * 0.9999 and x = x + 0.0001 in turn (bounded: the
// fixed point is 1), then backward through all of it. The per_entry counter is the time per
// op, forward and backward together: flat across N when backward is linear in the tape's
// length; N = 10^6 also shows that backward needs no recursion (no stack growth).
void chain(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  tg::Generator gen(tg_bench::kSeed);
  Tensor x0 = tg::randn({4}, gen, {.requires_grad = true});
  for (auto _ : state) {
    Tensor x = x0;
    for (std::int64_t i = 0; i < n; ++i) x = i % 2 == 0 ? x * 0.9999 : x + 0.0001;
    x.sum().backward();
    x0.set_grad(Tensor());
  }
  state.SetComplexityN(n);
  state.counters["per_entry"] = benchmark::Counter(
      static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(chain)
    ->Name("tape/chain")
    ->RangeMultiplier(10)
    ->Range(1'000, 1'000'000)
    ->Complexity(benchmark::oN)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A chain of N multiplications by a number, y = y * c on a one-element tensor, then backward:
// nothing but tape entries (the arithmetic is one multiply each). The per_entry counter should
// stay flat from N = 10^3 to 10^6; tg_tape_memory measures the bytes each entry holds.
void chain_scalar(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const double c = tg_bench::kChainFactor;
  Tensor y0 = tg::ones({1}, {.requires_grad = true});
  for (auto _ : state) {
    Tensor y = y0;
    for (std::int64_t i = 0; i < n; ++i) y = y * c;
    y.backward();
    y0.set_grad(Tensor());
  }
  state.SetComplexityN(n);
  state.counters["per_entry"] = benchmark::Counter(
      static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(chain_scalar)
    ->Name("tape/chain_scalar")
    ->RangeMultiplier(10)
    ->Range(1'000, 1'000'000)
    ->Complexity(benchmark::oN)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
