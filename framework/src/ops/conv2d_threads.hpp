// SPDX-License-Identifier: MIT
#pragma once
// What conv2d's two implementations (ops/conv2d_gemm.cpp, ops/conv2d_direct.cpp) share: aligned
// scratch buffers, the split of a batch over threads, and the ordered sum of per-chunk parts.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "ops/im2col.hpp"
#include "ops/kernels.hpp"
#include "ops/thread_pool.hpp"
#include "tapegrad/storage.hpp"
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

// A block of scratch from tapegrad's per-thread buffer cache (Note [cached scratch] in
// ops/conv2d_gemm.cpp), 64-byte aligned; zeroed when asked. Every member is defined out of line
// in conv2d_gemm.cpp, a baseline unit, so that the AVX-512 unit conv2d_direct.cpp compiles none
// of it (no copy of it under -march=x86-64-v4 for the linker to pick).
class CachedBlock {
 public:
  CachedBlock() noexcept;
  CachedBlock(std::size_t bytes, bool zero);
  CachedBlock(CachedBlock&& other) noexcept;
  CachedBlock& operator=(CachedBlock&& other) noexcept;
  CachedBlock(const CachedBlock&) = delete;
  CachedBlock& operator=(const CachedBlock&) = delete;
  ~CachedBlock();
  void* data() const noexcept;

 private:
  StoragePtr storage_;
};

// Note [conv2d chunks]: a batch is cut into chunks of whole images, several per thread, and
// each thread takes the next chunk when it finishes one (Note [thread pool]), so that a
// thread the scheduler holds back (another program wanting the core) leaves little work behind
// for the others to wait on. Scratch buffers belong to threads ("slots"); partial sums (dW, db)
// belong to chunks and are added up in chunk order, so a result depends on the thread count
// (which fixes the chunks) but never on which thread ran which chunk.
struct Split {
  int threads = 1;
  std::int64_t chunks = 1;
};

inline constexpr std::int64_t kChunksPerThread = 4;
// Partial sums of all chunks together stay under this (ResNet-18's 512-channel dW is 9 MB).
inline constexpr std::int64_t kPartBudgetBytes = std::int64_t{32} << 20;

// One thread per image at most, so that no image is split between threads; part_bytes is the
// size of one chunk's partial sums.
inline Split split_for(const Geometry& g, std::int64_t part_bytes) {
  const int threads = kernels::in_parallel() ? 1 : tg::get_num_threads();
  if (threads == 1 || g.N < threads) return {};
  std::int64_t chunks = std::min<std::int64_t>(g.N, threads * kChunksPerThread);
  if (part_bytes > 0) chunks = std::min(chunks, std::max<std::int64_t>(threads, kPartBudgetBytes / part_bytes));
  return {threads, chunks};
}

// Runs f(slot, chunk, n0, n1) for chunk c of s.chunks, the images [N c / C, N (c + 1) / C),
// on the thread with scratch slot `slot` (< s.threads).
template <class F>
void for_each_chunk(const Geometry& g, const Split& s, F f) {
  if (s.threads == 1) return f(0, std::int64_t{0}, std::int64_t{0}, g.N);
  kernels::parallel_chunks(s.threads, s.chunks,
                           [&](int slot, std::int64_t c) { f(slot, c, g.N * c / s.chunks, g.N * (c + 1) / s.chunks); });
}

// sum[k] = parts[0][k] + parts[1][k] + ... in chunk order.
// Parts: a vector of buffers with data().
template <class Parts, class T>
void sum_parts(const Parts& parts, T* sum, std::size_t size) {
  std::copy_n(parts[0].data(), size, sum);
  for (std::size_t t = 1; t < parts.size(); ++t) {
    const T* part = parts[t].data();
    for (std::size_t k = 0; k < size; ++k) sum[k] += part[k];
  }
}

}  // namespace tg::conv
