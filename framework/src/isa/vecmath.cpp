// SPDX-License-Identifier: MIT
#include "isa/vecmath.hpp"

#include "tapegrad/cpu.hpp"

namespace tg::kernels {

// Calls isa::<level>::call for the level in use.
#if TAPEGRAD_ISA_VARIANTS
#define TAPEGRAD_DISPATCH(call)   \
  switch (isa_level()) {          \
    case IsaLevel::avx512:        \
      return isa::avx512::call;   \
    case IsaLevel::avx2:          \
      return isa::avx2::call;     \
    default:                      \
      return isa::baseline::call; \
  }
#else
#define TAPEGRAD_DISPATCH(call) return isa::baseline::call;
#endif

template <class T>
void unary(UnaryFn f, const T* x, T* y, std::int64_t n) {
  TAPEGRAD_DISPATCH(unary(f, x, y, n))
}

template <class T>
void softmax_row(const T* x, T* y, std::int64_t n, bool log_space) {
  TAPEGRAD_DISPATCH(softmax_row(x, y, n, log_space))
}

template <class T>
void add_into(const T* x, T* y, std::int64_t n) {
  TAPEGRAD_DISPATCH(add_into(x, y, n))
}

template <class T>
void layer_norm_rows(const T* x, T* y, T* mean, T* rstd, std::int64_t rows, std::int64_t cols, double eps, const T* w,
                     const T* b) {
  TAPEGRAD_DISPATCH(layer_norm_rows(x, y, mean, rstd, rows, cols, eps, w, b))
}

template <class T>
void layer_norm_backward_rows(const T* x, const T* dy, const T* mean, const T* rstd, const T* w, T* dx, T* dw, T* db,
                              std::int64_t rows, std::int64_t cols) {
  TAPEGRAD_DISPATCH(layer_norm_backward_rows(x, dy, mean, rstd, w, dx, dw, db, rows, cols))
}

#undef TAPEGRAD_DISPATCH

template void unary<float>(UnaryFn, const float*, float*, std::int64_t);
template void unary<double>(UnaryFn, const double*, double*, std::int64_t);
template void softmax_row<float>(const float*, float*, std::int64_t, bool);
template void softmax_row<double>(const double*, double*, std::int64_t, bool);
template void add_into<float>(const float*, float*, std::int64_t);
template void add_into<double>(const double*, double*, std::int64_t);
template void layer_norm_rows<float>(const float*, float*, float*, float*, std::int64_t, std::int64_t, double,
                                     const float*, const float*);
template void layer_norm_rows<double>(const double*, double*, double*, double*, std::int64_t, std::int64_t, double,
                                      const double*, const double*);
template void layer_norm_backward_rows<float>(const float*, const float*, const float*, const float*, const float*,
                                              float*, float*, float*, std::int64_t, std::int64_t);
template void layer_norm_backward_rows<double>(const double*, const double*, const double*, const double*,
                                               const double*, double*, double*, double*, std::int64_t, std::int64_t);

}  // namespace tg::kernels
