// SPDX-License-Identifier: MIT
#pragma once
// parallel_for: the one way the non-GEMM kernels (pooling, elementwise functions,
// batch_norm) split a loop across OpenMP threads.
//
// Note: the items are cut into kChunksPerThread contiguous chunks per thread, and each thread
// takes the next chunk when it finishes one (Note [thread pool] in ops/thread_pool.hpp). On a
// machine where another program wants a core, the scheduler holds one of our threads back for
// milliseconds at a time; with one fixed half per thread the other then waited for it at the
// end of every loop. Kernels split only over independent items (elements, planes, channels),
// each computed whole by one call of f, so results never depend on timing nor on the thread
// count.
#include <algorithm>
#include <cstdint>

#include "ops/thread_pool.hpp"
#include "tapegrad/threads.hpp"

namespace tg::kernels {

// Below this much work (items x cost per item, in elements touched) a loop stays on the
// calling thread: waking a second thread costs a few microseconds, as much as ~30k
// elements of a simple loop.
inline constexpr std::int64_t kParallelWork = 1 << 15;
inline constexpr std::int64_t kChunksPerThread = 4;

// Calls f(begin, end) on disjoint ranges that cover [0, n).
template <class F>
void parallel_for(std::int64_t n, std::int64_t cost_per_item, F f) {
  if (n <= 0) return;
  int threads = in_parallel() ? 1 : tg::get_num_threads();
  if (threads == 1 || n < 2 || n * cost_per_item < kParallelWork) {
    f(std::int64_t{0}, n);
    return;
  }
  const std::int64_t chunks = std::min<std::int64_t>(n, threads * kChunksPerThread);
  parallel_chunks(threads, chunks, [&](int, std::int64_t chunk) { f(n * chunk / chunks, n * (chunk + 1) / chunks); });
}

}  // namespace tg::kernels
