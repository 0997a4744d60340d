// SPDX-License-Identifier: MIT
#pragma once
// The plain corr2d loop, on raw buffers: shared by the corr2d op (ops/corr2d.cpp) and by
// conv2d's `rotated` reference (ops/conv2d_reference.cpp), which writes conv2d and both of its
// gradients as sums of these 2-D correlations.
#include <algorithm>
#include <array>
#include <cstdint>

namespace tg::kernels {

// y = corr2d(x, k), unrecorded: for x with rows of w elements and k [kh, kw], the top-left
// y [oh, ow] of the correlation, overwritten:
//   y[i, j] = sum_{a < kh, b < kw} x[i + a, j + b] k[a, b]
// x must have at least oh + kh - 1 rows and w >= ow + kw - 1 columns. With oh and ow the full
// output size, [h - kh + 1, w - kw + 1], this is corr2d; with smaller ones, its top-left corner
// (conv2d's weight gradient needs only that, see ops/conv2d_reference.cpp).
//
// Two loop orders:
//  - a sum of shifted copies of x, one per kernel element (inner loop: a row of y):
//      y += k[a, b] * x[a : a + oh, b : b + ow]
//  - a dot product per output element (inner loop: a row of k):
//      y[i, j] = sum(x[i : i + kh, j : j + kw] * k)
// Note: both compute the same sums; the outer loops run over whichever is smaller, the
// kernel or the output. The forward pass has a small kernel and a large output;
// corr2d_backward_kernel (= corr2d(X, dY)) has it the other way round. Plain loops, not
// Eigen blocks: at these sizes an expression's setup costs more than its arithmetic.
//
// Note [flat rows]: when the output's rows are short (the seed's 6 x 8 image: rows of 7), a
// loop per row is mostly loop overhead and never fills a vector register. The shifted copies
// then run on x as one flat array of row stride w: x[a : a + oh, b : b + ow] lies in the span
// x[a w + b, a w + b + (oh - 1) w + ow), and y is read out of a buffer z with row stride w.
// z's other columns mix in values from beyond a row's window and are dropped; each kept
// output adds the same products in the same order as the loop per row.
inline constexpr std::int64_t kFlatRowsMax = 1024;  // elements of z, on the stack

template <class T>
void corr2d_loops(const T* x, std::int64_t w, const T* k, std::int64_t kh, std::int64_t kw, T* y, std::int64_t oh,
                  std::int64_t ow) {
  if (kh * kw <= oh * ow) {
    if (ow < 32 && oh * w <= kFlatRowsMax) {  // Note [flat rows]
      std::array<T, kFlatRowsMax> z;
      const std::int64_t span = (oh - 1) * w + ow;
      std::fill(z.data(), z.data() + span, T(0));
      for (std::int64_t a = 0; a < kh; ++a)
        for (std::int64_t b = 0; b < kw; ++b) {
          const T kab = k[a * kw + b];
          const T* xs = x + a * w + b;
          for (std::int64_t p = 0; p < span; ++p) z[p] += kab * xs[p];
        }
      for (std::int64_t i = 0; i < oh; ++i) std::copy(z.data() + i * w, z.data() + i * w + ow, y + i * ow);
      return;
    }
    std::fill(y, y + oh * ow, T(0));
    for (std::int64_t a = 0; a < kh; ++a)
      for (std::int64_t b = 0; b < kw; ++b) {
        const T kab = k[a * kw + b];
        for (std::int64_t i = 0; i < oh; ++i) {
          const T* xrow = x + (i + a) * w + b;
          T* yrow = y + i * ow;
          for (std::int64_t j = 0; j < ow; ++j) yrow[j] += kab * xrow[j];
        }
      }
    return;
  }
  for (std::int64_t i = 0; i < oh; ++i)
    for (std::int64_t j = 0; j < ow; ++j) {
      T acc = 0;
      for (std::int64_t a = 0; a < kh; ++a) {
        const T* xrow = x + (i + a) * w + j;
        const T* krow = k + a * kw;
        for (std::int64_t b = 0; b < kw; ++b) acc += xrow[b] * krow[b];
      }
      y[i * ow + j] = acc;
    }
}

}  // namespace tg::kernels
