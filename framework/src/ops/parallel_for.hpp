#pragma once
// parallel_for: the one way the non-GEMM kernels (pooling, elementwise functions,
// batch_norm) split a loop across OpenMP threads.
//
// Note: the split is static (thread t of T takes items [n t / T, n (t + 1) / T)), so a
// given thread count always gives every thread the same items, and results never depend
// on timing. Kernels split only over independent items (elements, planes, channels), so
// their results are the same for every thread count too.
#include <omp.h>

#include <cstdint>

#include "tapegrad/threads.hpp"

namespace tg::kernels {

// Below this much work (items x cost per item, in elements touched) a loop stays on the
// calling thread: waking a second thread costs a few microseconds, as much as ~30k
// elements of a simple loop.
inline constexpr std::int64_t kParallelWork = 1 << 15;

// Calls f(begin, end) on disjoint ranges that cover [0, n), one per thread.
template <class F>
void parallel_for(std::int64_t n, std::int64_t cost_per_item, F f) {
  if (n <= 0) return;
  int threads = omp_in_parallel() ? 1 : tg::get_num_threads();
  if (threads == 1 || n < 2 || n * cost_per_item < kParallelWork) {
    f(std::int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    std::int64_t t = omp_get_thread_num(), count = omp_get_num_threads();
    std::int64_t begin = n * t / count, end = n * (t + 1) / count;
    if (begin < end) f(begin, end);
  }
}

}  // namespace tg::kernels
