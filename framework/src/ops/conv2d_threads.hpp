#pragma once
// What conv2d's two implementations (ops/conv2d_gemm.cpp, ops/conv2d_direct.cpp) share: aligned
// scratch buffers, the split of a batch over threads, and the ordered sum of per-thread parts.
#include <omp.h>

#include <cstdint>
#include <vector>

#include "ops/im2col.hpp"
#include "ops/kernels.hpp"
#include "tapegrad/threads.hpp"

namespace tg::conv {

// Note: scratch buffers are aligned as Eigen aligns its own matrices. Eigen's vectorised sums
// (db, and small products) start with scalar steps up to the first aligned address, so with
// malloc's alignment the order of the additions, and so the last bits of the result, would
// change from call to call (a resumed LeNet run then no longer matched an uninterrupted one).
// The direct kernels load whole 64-byte vectors from them.
template <class T>
using Buffer = std::vector<T, Eigen::aligned_allocator<T>>;

template <class T>
Buffer<T> scratch(std::int64_t size) {
  return Buffer<T>(static_cast<std::size_t>(size));
}

// Threads for a batch: one per image at most, so that no image is split between threads.
inline int threads_for(const Geometry& g) {
  int threads = tg::get_num_threads();
  return g.N >= threads ? threads : 1;
}

// Runs f(t, n0, n1) on `threads` threads, thread t taking the images [N t / T, N (t + 1) / T)
// (a static split, so a thread's share does not depend on timing).
template <class F>
void for_each_share(const Geometry& g, int threads, F f) {
  auto run = [&](int t, int of) { f(t, g.N * t / of, g.N * (t + 1) / of); };
  if (threads == 1) return run(0, 1);
#pragma omp parallel num_threads(threads)
  run(omp_get_thread_num(), omp_get_num_threads());
}

// sum[k] = parts[0][k] + parts[1][k] + ... in thread order.
template <class T>
void sum_parts(const std::vector<Buffer<T>>& parts, T* sum, std::size_t size) {
  std::copy(parts[0].begin(), parts[0].begin() + static_cast<std::ptrdiff_t>(size), sum);
  for (std::size_t t = 1; t < parts.size(); ++t)
    for (std::size_t k = 0; k < size; ++k) sum[k] += parts[t][k];
}

}  // namespace tg::conv
