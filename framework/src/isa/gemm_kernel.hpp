// SPDX-License-Identifier: MIT
// The body of isa/kernels_<level>.cpp: the product of isa/gemm.hpp with Eigen, for one level.
//
// Each level's translation unit is compiled with its own -march and defines, before this
// file, TAPEGRAD_ISA_LEVEL (the namespace tg::isa::<level>) and `Eigen` as a macro for a
// namespace of its own (tg_eigen_<level>). The rename keeps the one-definition rule: without
// it, the three units would each instantiate the same Eigen templates under the same names
// (with AVX-512, AVX2 or SSE2 code inside), and the linker would keep one copy for all, so
// that a baseline CPU could run AVX-512 code. The ctest isa_symbols checks that these units
// define no global symbol outside their own namespaces.
//
// No include guard: each level's unit includes this once.
#if !defined(TAPEGRAD_ISA_LEVEL)
#error "define TAPEGRAD_ISA_LEVEL (and Eigen as tg_eigen_<level>) before including isa/gemm_kernel.hpp"
#endif

#include <cstdint>
#include <cstdlib>
#include <new>

#include "eigen_core.hpp"

#include "isa/gemm.hpp"

namespace tg::isa::TAPEGRAD_ISA_LEVEL {

namespace {

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstView = Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using View = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// Note [packing buffers]: Eigen's GEMM copies blocks of A and B into packed buffers, which it
// allocates with malloc for every product and frees at its end. For products of 240 to 288
// per side, glibc gives those pages back to the system at each free, so every product faulted
// them in again: 256^3 ran at 37 GFLOP/s instead of about 155 (docs/performance.md). Here each
// thread keeps its buffers for the next product (they only grow), handed to Eigen through its
// level3_blocking, which uses buffers it is given instead of allocating.
template <class T>
class PackingBuffer {
 public:
  PackingBuffer() = default;
  PackingBuffer(const PackingBuffer&) = delete;
  PackingBuffer& operator=(const PackingBuffer&) = delete;
  ~PackingBuffer() { std::free(data_); }

  T* get(std::int64_t size) {
    if (size > capacity_) {
      std::free(data_);
      // Whole 64-byte lines, as aligned_alloc asks, and a little room to grow.
      std::size_t bytes = (static_cast<std::size_t>(size + size / 4) * sizeof(T) + 63) / 64 * 64;
      data_ = static_cast<T*>(std::aligned_alloc(64, bytes));
      if (!data_) throw std::bad_alloc();
      capacity_ = static_cast<std::int64_t>(bytes / sizeof(T));
    }
    return data_;
  }

 private:
  T* data_ = nullptr;
  std::int64_t capacity_ = 0;
};

template <class T>
PackingBuffer<T>& packing_buffer(int which) {
  thread_local PackingBuffer<T> buffers[2];
  return buffers[which];
}

// Eigen's blocking sizes for one product, with this thread's buffers.
template <class T>
class Blocking : public Eigen::internal::level3_blocking<T, T> {
 public:
  Blocking(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth) {
    Eigen::Index kc = depth, mc = rows, nc = cols;
    Eigen::internal::computeProductBlockingSizes<T, T, 1, Eigen::Index>(kc, mc, nc, 1);
    this->m_kc = kc;
    this->m_mc = mc;
    this->m_nc = nc;
    this->m_blockA = packing_buffer<T>(0).get(kc * mc);
    this->m_blockB = packing_buffer<T>(1).get(kc * nc);
  }
};

// C += alpha op(A) op(B) through Eigen's GEMM, seen column-major as Eigen runs it:
// C^T [n, m] = op(B)^T op(A)^T. A row-major matrix is its transpose stored column-major.
template <class T, bool TransA, bool TransB>
void gemm_accumulate(std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda, const T* b,
                     std::int64_t ldb, T* c, std::int64_t ldc) {
  using Eigen::ColMajor;
  using Eigen::RowMajor;
  using Product = Eigen::internal::general_matrix_matrix_product<Eigen::Index, T, TransB ? RowMajor : ColMajor, false,
                                                                 T, TransA ? RowMajor : ColMajor, false, ColMajor, 1>;
  Blocking<T> blocking(n, m, k);
  Product::run(n, m, k, b, ldb, a, lda, c, 1, ldc, alpha, blocking);
}

template <class T, class A, class B>
void product(View<T>& c, T alpha, const A& a, const B& b, T beta) {
  // alpha * (a * b) is one call of Eigen's product with alpha folded into its kernel.
  if (beta == T(0)) {
    c.noalias() = alpha * (a * b);
  } else {
    if (beta != T(1)) c *= beta;
    c.noalias() += alpha * (a * b);
  }
}

template <class T>
void gemm_impl(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
               std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  View<T> C(c, m, n, Eigen::OuterStride<>(ldc));
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum
    if (beta == T(0))
      C.setZero();
    else
      C *= beta;
    return;
  }
  // Eigen's GEMM, with this thread's packing buffers, once the product is large enough that
  // Eigen itself would run it (its own threshold: EIGEN_GEMM_TO_COEFFBASED_THRESHOLD); vectors
  // and tiny products keep Eigen's matrix-vector and coefficient-wise paths.
  if (m > 1 && n > 1 && m + n + k >= 20) {
    if (beta == T(0))
      C.setZero();
    else if (beta != T(1))
      C *= beta;
    if (!trans_a && !trans_b) gemm_accumulate<T, false, false>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    if (!trans_a && trans_b) gemm_accumulate<T, false, true>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    if (trans_a && !trans_b) gemm_accumulate<T, true, false>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    if (trans_a && trans_b) gemm_accumulate<T, true, true>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    return;
  }
  ConstView<T> A(a, trans_a ? k : m, trans_a ? m : k, Eigen::OuterStride<>(lda));
  ConstView<T> B(b, trans_b ? n : k, trans_b ? k : n, Eigen::OuterStride<>(ldb));
  if (!trans_a && !trans_b) product(C, alpha, A, B, beta);
  if (!trans_a && trans_b) product(C, alpha, A, B.transpose(), beta);
  if (trans_a && !trans_b) product(C, alpha, A.transpose(), B, beta);
  if (trans_a && trans_b) product(C, alpha, A.transpose(), B.transpose(), beta);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  gemm_impl(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a,
          std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc) {
  gemm_impl(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace tg::isa::TAPEGRAD_ISA_LEVEL
