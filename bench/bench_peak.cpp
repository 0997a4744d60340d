// SPDX-License-Identifier: MIT
// The machine's floating-point peak, measured: a loop of independent float32 fused
// multiply-adds at the widest vector width the CPU has (tapegrad/cpu.hpp), on as many threads as
// tg_bench's --threads. The GEMM-bound cases are reported as a fraction of it
// (docs/performance.md); bench/compare_pytorch.py prints it next to the CPU model.
#include <cstdint>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "tapegrad/cpu.hpp"
#include "tapegrad/threads.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

constexpr std::int64_t kSteps = 1 << 18;  // per thread and iteration
constexpr int kChains = 12;               // independent accumulators: more than FMA latency x units

#if defined(__x86_64__)
// Each returns the number of float operations done (2 per lane per multiply-add).
__attribute__((target("avx512f"))) double fma_avx512(float seed) {
  __m512 acc[kChains], a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(seed);
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  for (std::int64_t s = 0; s < kSteps; ++s)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  for (int i = 1; i < kChains; ++i) acc[0] = _mm512_add_ps(acc[0], acc[i]);
  benchmark::DoNotOptimize(acc[0]);
  return 2.0 * 16 * kChains * kSteps;
}

__attribute__((target("avx2,fma"))) double fma_avx2(float seed) {
  __m256 acc[kChains], a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(seed);
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  for (std::int64_t s = 0; s < kSteps; ++s)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  for (int i = 1; i < kChains; ++i) acc[0] = _mm256_add_ps(acc[0], acc[i]);
  benchmark::DoNotOptimize(acc[0]);
  return 2.0 * 8 * kChains * kSteps;
}
#endif

void peak_fma(benchmark::State& state) {
#if defined(__x86_64__)
  const tg::CpuFeatures cpu = tg::cpu_features();
  double (*loop)(float) = cpu.avx512f ? fma_avx512 : cpu.avx2 && cpu.fma ? fma_avx2 : nullptr;
  if (!loop) {
    state.SkipWithError("no FMA unit (neither AVX-512 nor AVX2 with FMA): no peak to measure");
    return;
  }
  const int threads = tg::get_num_threads();
  double flops = 0;
  for (auto _ : state) {
    std::vector<std::thread> workers;
    std::vector<double> done(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] { done[static_cast<std::size_t>(t)] = loop(0.5f + static_cast<float>(t)); });
    for (auto& w : workers) w.join();
    flops = 0;
    for (double d : done) flops += d;
  }
  state.counters["FLOPs"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(cpu.avx512f ? "avx512 fma" : "avx2 fma");
#else
  state.SkipWithError("the peak loop is written for x86-64");
#endif
}
BENCHMARK(peak_fma)->Name("peak/fma")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
