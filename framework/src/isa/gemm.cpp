// SPDX-License-Identifier: MIT
#include "isa/gemm.hpp"

#include <algorithm>

#include "ops/thread_pool.hpp"
#include "tapegrad/cpu.hpp"
#include "tapegrad/threads.hpp"

namespace tg::kernels {

namespace {

// One thread's product, at the CPU's level.
template <class T>
void gemm_one_thread(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
                     std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  switch (isa_level()) {
#if TAPEGRAD_ISA_VARIANTS
    case IsaLevel::avx512:
      return isa::avx512::gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    case IsaLevel::avx2:
      return isa::avx2::gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
    default:
      return isa::baseline::gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

}  // namespace

// Note [chunked products]: a product large enough to split (kParallelGemmWork) is cut into
// pieces of C's longer side, several per thread, each a whole product of its own, and
// threads take the next piece as they finish one (ops/thread_pool.hpp). Every element
// of C is computed by one piece, in the same way whichever thread runs it, so the result does
// not depend on timing. (Across thread counts the pieces differ, and Eigen's kernel sums a
// piece's last rows in another order than its full register blocks: the last bits can differ.)
//
// Eigen's own threaded product splits C once, evenly, and its threads wait for each other in
// spin loops at every block of the inner dimension (their packed parts of A are shared). On a
// machine where another program wants a core, the scheduler takes one of our threads away for
// milliseconds at a time and the other spins meanwhile: two threads were then slower than one.
// Pieces cost a little more packing (each packs its own copy of the other operand's panel),
// which is why a piece is at least kMinPiece wide.
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const int threads = work < kParallelGemmWork || in_parallel() ? 1 : tg::get_num_threads();
  const bool split_columns = n >= m;
  const std::int64_t side = split_columns ? n : m;
  // Pieces: kPiecesPerThread per thread, each at least kMinPiece wide, in whole 16s.
  std::int64_t width = std::max<std::int64_t>(
      kMinPiece, (side + threads * kPiecesPerThread - 1) / (std::int64_t{threads} * kPiecesPerThread));
  width = (width + 15) / 16 * 16;
  const std::int64_t pieces = (side + width - 1) / width;
  if (threads == 1 || pieces < 2)
    return gemm_one_thread(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  parallel_chunks(threads, pieces, [&](int, std::int64_t piece) {
    const std::int64_t begin = piece * width, size = std::min(width, side - begin);
    if (split_columns)  // C[:, begin:] = op(A) op(B)[:, begin:]
      gemm_one_thread(trans_a, trans_b, m, size, k, alpha, a, lda, trans_b ? b + begin * ldb : b + begin, ldb, beta,
                      c + begin, ldc);
    else  // C[begin:, :] = op(A)[begin:, :] op(B)
      gemm_one_thread(trans_a, trans_b, size, n, k, alpha, trans_a ? a + begin : a + begin * lda, lda, b, ldb, beta,
                      c + begin * ldc, ldc);
  });
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                          const float*, std::int64_t, float, float*, std::int64_t);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, std::int64_t,
                           const double*, std::int64_t, double, double*, std::int64_t);

}  // namespace tg::kernels
