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

// GCC bug 105593's false warnings inside the intrinsics headers, as in ops/kernels.hpp.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "isa/gemm.hpp"

namespace tg::isa::TAPEGRAD_ISA_LEVEL {

namespace {

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstView = Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using View = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class T, class A, class B>
void product(View<T>& c, T alpha, const A& a, const B& b, T beta) {
  // alpha * (a * b) is one call of Eigen's GEMM with alpha folded into its kernel.
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
