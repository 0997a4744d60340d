// SPDX-License-Identifier: MIT
#pragma once
// The matrix product every GEMM-bound op runs (matmul, linear, im2col convolution,
// attention), compiled once per instruction-set level (isa/kernels_<level>.cpp) and dispatched
// on tg::isa_level() (tapegrad/cpu.hpp) at each call.
//
//   C[m, n] = alpha op(A) op(B) + beta C
//
// Row-major operands with leading dimensions: op(A) is [m, k], stored as A[m, k] (lda >= k)
// or, when trans_a, as A[k, m] (lda >= m); likewise op(B) is [k, n]. With beta == 0, C is
// written without being read.
//
// Threads: a product of at least kParallelGemmWork multiply-adds, called outside a parallel
// region, runs on tg::get_num_threads() threads, in pieces (Note [chunked products] in
// isa/gemm.cpp); smaller ones, and any called from inside a parallel region, on the calling
// thread. For a given thread count the result never depends on timing.
#include <cstdint>

namespace tg::kernels {

// Waking a second thread costs a few microseconds, and on a loaded machine far more, as long
// as a small product takes: a [32, 28] x [28, 128] product took 2 us on one thread and 8 us on
// two. Measured with `tg_bench --benchmark_filter=matmul/shape` at 1 and 2 threads
// (docs/performance.md, "Threads that never hurt").
inline constexpr double kParallelGemmWork = 192.0 * 192 * 192;
// A piece of a split product is at least this many columns (or rows) of C: each piece packs
// the other operand again, which costs about 3 / width of the product's time.
inline constexpr std::int64_t kMinPiece = 64;
// Pieces per thread: enough that a thread the scheduler holds back leaves little behind, few
// enough that packing stays cheap. Measured (docs/performance.md): 2 per thread ran matmul
// 1024 3 to 5% and 512^3 14% faster than 4 on an idle machine, and as fast beside a competitor.
inline constexpr std::int64_t kPiecesPerThread = 2;

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc);

}  // namespace tg::kernels

namespace tg::isa {

// One set per level (TAPEGRAD_ISA_VARIANTS: the x86-64 levels are built).
#define TAPEGRAD_DECLARE_GEMM(level)                                                                                   \
  namespace level {                                                                                                    \
  void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,   \
            std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc);               \
  void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a, \
            std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc);            \
  }
TAPEGRAD_DECLARE_GEMM(baseline)
#if TAPEGRAD_ISA_VARIANTS
TAPEGRAD_DECLARE_GEMM(avx2)
TAPEGRAD_DECLARE_GEMM(avx512)
#endif
#undef TAPEGRAD_DECLARE_GEMM

}  // namespace tg::isa
