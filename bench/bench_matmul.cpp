// SPDX-License-Identifier: MIT
// The matrix product on its own, forward only: the GEMM every conv2d and Linear relies on.
#include <cstdint>

#include <benchmark/benchmark.h>

#include "common.hpp"
#include "tapegrad/tapegrad.hpp"

namespace {

// C = A B for 1024x1024 float32 matrices (2 n^3 flops).
void matmul_1024(benchmark::State& state) {
  constexpr std::int64_t n = 1024;
  tg::Generator gen(tg_bench::kSeed);
  tg::Tensor A = tg::randn({n, n}, gen), B = tg::randn({n, n}, gen);
  for (auto _ : state) {
    tg::Tensor C = A.matmul(B);
    benchmark::DoNotOptimize(C.data<float>());
  }
  state.counters["FLOPs"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(matmul_1024)->Name("matmul/1024")->Unit(benchmark::kMillisecond)->UseRealTime();

// C [n, m] = A [n, k] B [k, m], small to medium: where a second thread starts to pay
// (kernels::kParallelGemmWork). 32x28x128 is a char_lm/GRU-sized product.
void matmul_shape(benchmark::State& state) {
  const std::int64_t n = state.range(0), k = state.range(1), m = state.range(2);
  tg::Generator gen(tg_bench::kSeed);
  tg::Tensor A = tg::randn({n, k}, gen), B = tg::randn({k, m}, gen);
  for (auto _ : state) {
    tg::Tensor C = A.matmul(B);
    benchmark::DoNotOptimize(C.data<float>());
  }
  state.counters["FLOPs"] =
      benchmark::Counter(2.0 * static_cast<double>(n * k * m), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(matmul_shape)
    ->Name("matmul/shape")
    ->ArgNames({"n", "k", "m"})
    ->Args({32, 28, 128})
    ->Args({64, 64, 64})
    ->Args({128, 128, 128})
    ->Args({192, 192, 192})
    ->Args({256, 256, 256})
    ->Args({384, 384, 384})
    ->Args({512, 512, 512})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
