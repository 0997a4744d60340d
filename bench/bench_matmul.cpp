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

}  // namespace
