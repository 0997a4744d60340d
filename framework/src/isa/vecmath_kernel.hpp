// SPDX-License-Identifier: MIT
// The body of isa/vecmath.hpp's kernels for one level, included by isa/kernels_<level>.cpp
// after isa/gemm_kernel.hpp (which includes Eigen under this level's name). The expressions
// are those the ops used before they were dispatched.
#if !defined(TAPEGRAD_ISA_LEVEL)
#error "include isa/vecmath_kernel.hpp from isa/kernels_<level>.cpp"
#endif

#include <cmath>
#include <limits>

#include "isa/vecmath.hpp"

namespace tg::isa::TAPEGRAD_ISA_LEVEL {

namespace {

template <class T>
using Line = Eigen::Array<T, Eigen::Dynamic, 1>;

// Eigen's vectorised exp, with SSE2 or AVX2 packets for float and with every packet size for
// double, clamps its argument from below (at -88.38 for float, -709.4 for double) and so
// returns e^-88.38 = 2.9e-39 (5.6e-309) for anything smaller, -inf included, where the true
// value is smaller still: 0 for -inf, the entries a mask removed from a softmax. Eigen's
// AVX-512 float exp returns 0 there. exp_floor<T>() is the clamped value at this level (0 when
// there is none); flush_exp_floor sets results at or below it to 0, so that e^-inf is 0 at
// every level, as in PyTorch (an entry whose true value lies in (0, 2.9e-39] becomes 0 too).
template <class T>
T exp_floor() {
  static const T floor = [] {
    Line<T> e = Line<T>::Constant(64, -std::numeric_limits<T>::infinity()).exp();
    return e(0);
  }();
  return floor;
}

template <class T>
void flush_exp_floor(T* y, std::int64_t n) {
  const T floor = exp_floor<T>();
  if (floor == T(0)) return;
  for (std::int64_t i = 0; i < n; ++i) y[i] = y[i] <= floor ? T(0) : y[i];
}

template <class T>
void unary_impl(kernels::UnaryFn f, const T* x, T* y, std::int64_t n) {
  Eigen::Map<const Line<T>> a(x, n);
  Eigen::Map<Line<T>> b(y, n);
  switch (f) {
    case kernels::UnaryFn::exp:
      b = a.exp();
      flush_exp_floor(y, n);
      return;
    case kernels::UnaryFn::log:
      b = a.log();
      return;
    case kernels::UnaryFn::sigmoid:
      b = a.logistic();
      return;
    case kernels::UnaryFn::tanh:
      b = a.tanh();
      return;
    case kernels::UnaryFn::sqrt:
      b = a.sqrt();
      return;
    case kernels::UnaryFn::rsqrt:
      b = a.rsqrt();
      return;
    case kernels::UnaryFn::log1p:
      b = a.log1p();
      return;
    case kernels::UnaryFn::silu:
      b = a * a.logistic();
      return;
  }
}

template <class T>
void softmax_row_impl(const T* x, T* y, std::int64_t n, bool log_space) {
  Eigen::Map<const Line<T>> xr(x, n);
  Eigen::Map<Line<T>> yr(y, n);
  const T m = xr.maxCoeff();
  if (log_space) {  // (x - m) - ln total: x - (m + ln total) would round m + ln total first
    const T total = (xr - m).exp().sum();
    yr = (xr - m) - std::log(total);
    return;
  }
  yr = (xr - m).exp();
  flush_exp_floor(y, n);
  yr /= yr.sum();
}

template <class T>
void layer_norm_rows_impl(const T* px, T* py, T* pm, T* pr, std::int64_t rows, std::int64_t cols, double eps,
                          const T* pw, const T* pb) {
  for (std::int64_t r = 0; r < rows; ++r) {
    Eigen::Map<const Line<T>> xr(px + r * cols, cols);
    Eigen::Map<Line<T>> yr(py + r * cols, cols);
    const T m = xr.sum() / static_cast<T>(cols);
    const T var = (xr - m).square().sum() / static_cast<T>(cols);
    const T inv = T(1) / std::sqrt(var + static_cast<T>(eps));
    pm[r] = m;
    pr[r] = inv;
    if (pw && pb)
      yr = (xr - m) * inv * Eigen::Map<const Line<T>>(pw, cols) + Eigen::Map<const Line<T>>(pb, cols);
    else if (pw)
      yr = (xr - m) * inv * Eigen::Map<const Line<T>>(pw, cols);
    else if (pb)
      yr = (xr - m) * inv + Eigen::Map<const Line<T>>(pb, cols);
    else
      yr = (xr - m) * inv;
  }
}

template <class T>
void layer_norm_backward_rows_impl(const T* px, const T* pdy, const T* pm, const T* pr, const T* pw, T* pdx, T* pdw,
                                   T* pdb, std::int64_t rows, std::int64_t cols) {
  Line<T> xhat(cols), dxhat(cols);
  for (std::int64_t r = 0; r < rows; ++r) {
    Eigen::Map<const Line<T>> xr(px + r * cols, cols), dyr(pdy + r * cols, cols);
    xhat = (xr - pm[r]) * pr[r];
    if (pdw) Eigen::Map<Line<T>>(pdw, cols) += dyr * xhat;
    if (pdb) Eigen::Map<Line<T>>(pdb, cols) += dyr;
    if (!pdx) continue;
    if (pw)
      dxhat = dyr * Eigen::Map<const Line<T>>(pw, cols);
    else
      dxhat = dyr;
    const T a = dxhat.mean(), c = (dxhat * xhat).mean();
    Eigen::Map<Line<T>>(pdx + r * cols, cols) = (dxhat - a - xhat * c) * pr[r];
  }
}

}  // namespace

void layer_norm_rows(const float* x, float* y, float* mean, float* rstd, std::int64_t rows, std::int64_t cols,
                     double eps, const float* w, const float* b) {
  layer_norm_rows_impl(x, y, mean, rstd, rows, cols, eps, w, b);
}
void layer_norm_rows(const double* x, double* y, double* mean, double* rstd, std::int64_t rows, std::int64_t cols,
                     double eps, const double* w, const double* b) {
  layer_norm_rows_impl(x, y, mean, rstd, rows, cols, eps, w, b);
}
void layer_norm_backward_rows(const float* x, const float* dy, const float* mean, const float* rstd, const float* w,
                              float* dx, float* dw, float* db, std::int64_t rows, std::int64_t cols) {
  layer_norm_backward_rows_impl(x, dy, mean, rstd, w, dx, dw, db, rows, cols);
}
void layer_norm_backward_rows(const double* x, const double* dy, const double* mean, const double* rstd,
                              const double* w, double* dx, double* dw, double* db, std::int64_t rows,
                              std::int64_t cols) {
  layer_norm_backward_rows_impl(x, dy, mean, rstd, w, dx, dw, db, rows, cols);
}

void add_into(const float* x, float* y, std::int64_t n) {
  Eigen::Map<Line<float>>(y, n) += Eigen::Map<const Line<float>>(x, n);
}
void add_into(const double* x, double* y, std::int64_t n) {
  Eigen::Map<Line<double>>(y, n) += Eigen::Map<const Line<double>>(x, n);
}
void unary(kernels::UnaryFn f, const float* x, float* y, std::int64_t n) { unary_impl(f, x, y, n); }
void unary(kernels::UnaryFn f, const double* x, double* y, std::int64_t n) { unary_impl(f, x, y, n); }
void softmax_row(const float* x, float* y, std::int64_t n, bool log_space) { softmax_row_impl(x, y, n, log_space); }
void softmax_row(const double* x, double* y, std::int64_t n, bool log_space) { softmax_row_impl(x, y, n, log_space); }

}  // namespace tg::isa::TAPEGRAD_ISA_LEVEL
