// SPDX-License-Identifier: MIT
#pragma once
// Elementwise math and softmax rows, compiled once per instruction-set level like the matrix
// product (isa/gemm.hpp) and dispatched on tg::isa_level() at each call: Eigen's vectorised
// exp, tanh and logistic run 2 to 3 times faster with AVX-512 packets than with SSE2 ones.
#include <cstdint>

namespace tg::kernels {

enum class UnaryFn { exp, log, sigmoid, tanh, sqrt, rsqrt, log1p, silu };

// y[i] = f(x[i]) for i < n (y may be x). e^-inf is 0 at every level (isa/vecmath_kernel.hpp,
// flush_exp_floor).
template <class T>
void unary(UnaryFn f, const T* x, T* y, std::int64_t n);

// One contiguous line of softmax (log_space false) or log_softmax (true): y = e^(x - m) / sum,
// or (x - m) - ln(sum), m the line's max (y may be x). n > 0.
template <class T>
void softmax_row(const T* x, T* y, std::int64_t n, bool log_space);

// y[i] += x[i] for i < n (embedding_backward's rows).
template <class T>
void add_into(const T* x, T* y, std::int64_t n);

// layer_norm over rows of `cols` values: mean[r], rstd[r] = 1 / sqrt(var + eps) and
// y = (x - mean) rstd (* w) (+ b); w and b may be null.
template <class T>
void layer_norm_rows(const T* x, T* y, T* mean, T* rstd, std::int64_t rows, std::int64_t cols, double eps, const T* w,
                     const T* b);
// Its backward: dw += sum_r dy xhat, db += sum_r dy, dx = (dxhat - mean(dxhat) - xhat
// mean(dxhat xhat)) rstd with dxhat = dy (* w); any of dx, dw, db may be null (not wanted).
template <class T>
void layer_norm_backward_rows(const T* x, const T* dy, const T* mean, const T* rstd, const T* w, T* dx, T* dw, T* db,
                              std::int64_t rows, std::int64_t cols);

}  // namespace tg::kernels

namespace tg::isa {

#define TAPEGRAD_DECLARE_VECMATH(level)                                                                                \
  namespace level {                                                                                                    \
  void unary(kernels::UnaryFn f, const float* x, float* y, std::int64_t n);                                            \
  void unary(kernels::UnaryFn f, const double* x, double* y, std::int64_t n);                                          \
  void softmax_row(const float* x, float* y, std::int64_t n, bool log_space);                                          \
  void softmax_row(const double* x, double* y, std::int64_t n, bool log_space);                                        \
  void add_into(const float* x, float* y, std::int64_t n);                                                             \
  void add_into(const double* x, double* y, std::int64_t n);                                                           \
  void layer_norm_rows(const float* x, float* y, float* mean, float* rstd, std::int64_t rows, std::int64_t cols,       \
                       double eps, const float* w, const float* b);                                                    \
  void layer_norm_rows(const double* x, double* y, double* mean, double* rstd, std::int64_t rows, std::int64_t cols,   \
                       double eps, const double* w, const double* b);                                                  \
  void layer_norm_backward_rows(const float* x, const float* dy, const float* mean, const float* rstd, const float* w, \
                                float* dx, float* dw, float* db, std::int64_t rows, std::int64_t cols);                \
  void layer_norm_backward_rows(const double* x, const double* dy, const double* mean, const double* rstd,             \
                                const double* w, double* dx, double* dw, double* db, std::int64_t rows,                \
                                std::int64_t cols);                                                                    \
  }
TAPEGRAD_DECLARE_VECMATH(baseline)
#if TAPEGRAD_ISA_VARIANTS
TAPEGRAD_DECLARE_VECMATH(avx2)
TAPEGRAD_DECLARE_VECMATH(avx512)
#endif
#undef TAPEGRAD_DECLARE_VECMATH

}  // namespace tg::isa
