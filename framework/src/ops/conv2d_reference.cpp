// SPDX-License-Identifier: MIT
// conv2d's reference implementations: the sums at the top of ops/conv2d.cpp, each computed the
// way it is written there, for any dtype, stride and padding. Notation as there: x [N, C, H, W],
// W [O, C, kh, kw], Xp = x zero-padded by (ph, pw), D[n, o] = dY[n, o] dilated by the stride
// (D[sh i, sw j] = dY[i, j], zeros between), e the kernel column (b' in ops/conv2d.cpp).
//
// naive: one loop nest per result, straight from the definitions. Xp and D are never built:
// padded() and dilated() read x and dY and return 0 on the padding and between the samples.
//   Y[n, o, i, j]   = b[o] + sum_{c, a, e} Xp[n, c, sh i + a, sw j + e] W[o, c, a, e]
//   dW[o, c, a, e]  = sum_{n, i, j} dY[n, o, i, j] Xp[n, c, sh i + a, sw j + e]
//   dXp[n, c, p, q] = sum_{o, a, e} D[n, o, p - a, q - e] W[o, c, a, e]
//   dx[n, c, y, z]  = dXp[n, c, y + ph, z + pw]
//   db[o]           = sum_{n, i, j} dY[n, o, i, j]
// Every result element is one sum, written once: dx is gathered (each element collects the
// terms that reach it) rather than scattered from dY as im2col's col2im does.
//
// rotated: the textbook formulation, every sum a 2-D correlation of whole planes, computed by
// the loop of the corr2d op (ops/corr2d_loops.hpp):
//   Y[n, o]   = b[o] + sum_c corr2d(Xp[n, c], W[o, c])        sampled at rows sh i, columns sw j
//   dW[o, c]  = sum_n corr2d(Xp[n, c], D[n, o])                its top-left [kh, kw]
//   dXp[n, c] = sum_o corr2d(pad(D[n, o], kh - 1, kw - 1), rot180(W[o, c]))
//   dx[n, c]  = dXp[n, c] without its ph border rows and pw border columns
// The third line is the full convolution of D with W written as a correlation (docs/autograd.md,
// section 5, substitutes a -> kh - 1 - a and e -> kw - 1 - e). Its result has
// (OH - 1) sh + kh rows; when the stride does not divide H + 2 ph - kh, the rows of dXp past
// that are touched by no output and stay zero (the same for columns).
//
// Note: what they cost. naive does exactly the multiply-adds of the sums, 2 N O C kh kw OH OW
// flops per part, but one scalar at a time, with a bounds test on each read of Xp or D and, for
// dx, a division by the stride to find the dY element under D. rotated runs corr2d's loops, which
// the compiler vectorises along a row, but computes more: the forward and dW correlate at
// stride 1 and keep every sh-th row and sw-th column (sh sw times the work), and dx multiplies
// the zeros that pad and dilate D (twice the terms of the sum for LeNet's conv2). dW correlates
// a large "kernel" D with a small output, which corr2d's loops do as dot products summed one
// scalar at a time. Both run on one thread and copy planes (Xp, D, its padding, the rotated
// kernels) for every image. On LeNet's conv2, tg_bench's conv2d_algorithm cases measure naive
// 20 to 100 times slower than gemm and rotated 5 to 11 times.
#include "ops/conv2d_reference.hpp"

#include <algorithm>
#include <vector>

#include "ops/corr2d_loops.hpp"

namespace tg::conv {

namespace {

// Offsets of x[n, c], W[o, c] and dY[n, o] (each a contiguous plane) in their buffers.
std::int64_t x_plane(const Geometry& g, std::int64_t n, std::int64_t c) { return (n * g.C + c) * g.H * g.W; }
std::int64_t w_plane(const Geometry& g, std::int64_t o, std::int64_t c) { return (o * g.C + c) * g.kh * g.kw; }
std::int64_t y_plane(const Geometry& g, std::int64_t n, std::int64_t o) { return (n * g.O + o) * g.OH * g.OW; }

// db[o] = sum_{n, i, j} dY[n, o, i, j] (the same sum in both references).
template <class T>
void bias_gradient(const Geometry& g, const T* dy, T* db) {
  for (std::int64_t o = 0; o < g.O; ++o) {
    T sum = 0;
    for (std::int64_t n = 0; n < g.N; ++n)
      for (std::int64_t p = 0; p < g.pixels(); ++p) sum += dy[y_plane(g, n, o) + p];
    db[o] = sum;
  }
}

// ---- naive ----

// Xp[n, c, p, q]: x read through its zero padding.
template <class T>
T padded(const Geometry& g, const T* x, std::int64_t n, std::int64_t c, std::int64_t p, std::int64_t q) {
  const std::int64_t y = p - g.ph, z = q - g.pw;
  if (y < 0 || y >= g.H || z < 0 || z >= g.W) return T(0);
  return x[x_plane(g, n, c) + y * g.W + z];
}

// D[n, o, u, v]: dY read through its dilation, zero between the samples and outside.
template <class T>
T dilated(const Geometry& g, const T* dy, std::int64_t n, std::int64_t o, std::int64_t u, std::int64_t v) {
  if (u < 0 || v < 0 || u % g.sh != 0 || v % g.sw != 0) return T(0);
  const std::int64_t i = u / g.sh, j = v / g.sw;
  if (i >= g.OH || j >= g.OW) return T(0);
  return dy[y_plane(g, n, o) + i * g.OW + j];
}

}  // namespace

template <class T>
void forward_naive(const Geometry& g, const T* x, const T* w, const T* bias, T* y) {
  for (std::int64_t n = 0; n < g.N; ++n)
    for (std::int64_t o = 0; o < g.O; ++o)
      for (std::int64_t i = 0; i < g.OH; ++i)
        for (std::int64_t j = 0; j < g.OW; ++j) {
          T sum = bias ? bias[o] : T(0);
          for (std::int64_t c = 0; c < g.C; ++c)
            for (std::int64_t a = 0; a < g.kh; ++a)
              for (std::int64_t e = 0; e < g.kw; ++e)
                sum += padded(g, x, n, c, g.sh * i + a, g.sw * j + e) * w[w_plane(g, o, c) + a * g.kw + e];
          y[y_plane(g, n, o) + i * g.OW + j] = sum;
        }
}

template <class T>
void backward_naive(const Geometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  if (db) bias_gradient(g, dy, db);
  if (dw)
    for (std::int64_t o = 0; o < g.O; ++o)
      for (std::int64_t c = 0; c < g.C; ++c)
        for (std::int64_t a = 0; a < g.kh; ++a)
          for (std::int64_t e = 0; e < g.kw; ++e) {
            T sum = 0;
            for (std::int64_t n = 0; n < g.N; ++n)
              for (std::int64_t i = 0; i < g.OH; ++i)
                for (std::int64_t j = 0; j < g.OW; ++j)
                  sum += dy[y_plane(g, n, o) + i * g.OW + j] * padded(g, x, n, c, g.sh * i + a, g.sw * j + e);
            dw[w_plane(g, o, c) + a * g.kw + e] = sum;
          }
  if (dx)
    for (std::int64_t n = 0; n < g.N; ++n)
      for (std::int64_t c = 0; c < g.C; ++c)
        for (std::int64_t y = 0; y < g.H; ++y)
          for (std::int64_t z = 0; z < g.W; ++z) {
            const std::int64_t p = y + g.ph, q = z + g.pw;  // the element's place in Xp
            T sum = 0;
            for (std::int64_t o = 0; o < g.O; ++o)
              for (std::int64_t a = 0; a < g.kh; ++a)
                for (std::int64_t e = 0; e < g.kw; ++e)
                  sum += dilated(g, dy, n, o, p - a, q - e) * w[w_plane(g, o, c) + a * g.kw + e];
            dx[x_plane(g, n, c) + y * g.W + z] = sum;
          }
}

namespace {

// ---- rotated ----

// A plane [h, w], row-major, zero-initialised.
template <class T>
struct Plane {
  std::int64_t h, w;
  std::vector<T> v;
  Plane(std::int64_t rows, std::int64_t cols) : h(rows), w(cols), v(static_cast<std::size_t>(rows * cols)) {}
  T& operator()(std::int64_t i, std::int64_t j) { return v[static_cast<std::size_t>(i * w + j)]; }
  T operator()(std::int64_t i, std::int64_t j) const { return v[static_cast<std::size_t>(i * w + j)]; }
};

// src [h, w] with ph zero rows above and below and pw zero columns left and right.
template <class T>
Plane<T> zero_pad(const T* src, std::int64_t h, std::int64_t w, std::int64_t ph, std::int64_t pw) {
  Plane<T> P(h + 2 * ph, w + 2 * pw);
  for (std::int64_t i = 0; i < h; ++i)
    for (std::int64_t j = 0; j < w; ++j) P(i + ph, j + pw) = src[i * w + j];
  return P;
}

// D = dY[n, o] [OH, OW] dilated by the stride: [(OH - 1) sh + 1, (OW - 1) sw + 1],
// D[sh i, sw j] = dY[i, j] and zeros between.
template <class T>
Plane<T> dilate(const Geometry& g, const T* dy_plane) {
  Plane<T> D((g.OH - 1) * g.sh + 1, (g.OW - 1) * g.sw + 1);
  for (std::int64_t i = 0; i < g.OH; ++i)
    for (std::int64_t j = 0; j < g.OW; ++j) D(g.sh * i, g.sw * j) = dy_plane[i * g.OW + j];
  return D;
}

// K [kh, kw] turned by 180 degrees: R[a, e] = K[kh - 1 - a, kw - 1 - e].
template <class T>
Plane<T> rot180(const T* k, std::int64_t kh, std::int64_t kw) {
  Plane<T> R(kh, kw);
  for (std::int64_t a = 0; a < kh; ++a)
    for (std::int64_t e = 0; e < kw; ++e) R(a, e) = k[(kh - 1 - a) * kw + (kw - 1 - e)];
  return R;
}

// The top-left [oh, ow] of corr2d(X, K) for K [kh, kw] (the whole of it when
// oh = X.h - kh + 1 and ow = X.w - kw + 1).
template <class T>
Plane<T> correlate(const Plane<T>& X, const T* k, std::int64_t kh, std::int64_t kw, std::int64_t oh, std::int64_t ow) {
  Plane<T> Y(oh, ow);
  kernels::corr2d_loops(X.v.data(), X.w, k, kh, kw, Y.v.data(), oh, ow);
  return Y;
}

// to[i, j] += from[i, j] over from's extent (the top-left corner of to).
template <class T>
void add_into(Plane<T>& to, const Plane<T>& from) {
  for (std::int64_t i = 0; i < from.h; ++i)
    for (std::int64_t j = 0; j < from.w; ++j) to(i, j) += from(i, j);
}

}  // namespace

template <class T>
void forward_rotated(const Geometry& g, const T* x, const T* w, const T* bias, T* y) {
  const std::int64_t Hp = g.H + 2 * g.ph, Wp = g.W + 2 * g.pw;
  const std::int64_t FH = Hp - g.kh + 1, FW = Wp - g.kw + 1;  // corr2d's output, stride 1
  for (std::int64_t n = 0; n < g.N; ++n) {
    std::vector<Plane<T>> Xp;  // Xp[n, c]
    for (std::int64_t c = 0; c < g.C; ++c) Xp.push_back(zero_pad(x + x_plane(g, n, c), g.H, g.W, g.ph, g.pw));
    for (std::int64_t o = 0; o < g.O; ++o) {
      Plane<T> sum(FH, FW);  // sum_c corr2d(Xp[n, c], W[o, c])
      for (std::int64_t c = 0; c < g.C; ++c) add_into(sum, correlate(Xp[c], w + w_plane(g, o, c), g.kh, g.kw, FH, FW));
      T* out = y + y_plane(g, n, o);
      for (std::int64_t i = 0; i < g.OH; ++i)
        for (std::int64_t j = 0; j < g.OW; ++j) out[i * g.OW + j] = (bias ? bias[o] : T(0)) + sum(g.sh * i, g.sw * j);
    }
  }
}

template <class T>
void backward_rotated(const Geometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  if (db) bias_gradient(g, dy, db);
  if (dw) std::fill(dw, dw + g.O * g.patch(), T(0));
  std::vector<Plane<T>> R;  // R[o C + c] = rot180(W[o, c])
  if (dx)
    for (std::int64_t o = 0; o < g.O; ++o)
      for (std::int64_t c = 0; c < g.C; ++c) R.push_back(rot180(w + w_plane(g, o, c), g.kh, g.kw));
  const std::int64_t Hp = g.H + 2 * g.ph, Wp = g.W + 2 * g.pw;
  for (std::int64_t n = 0; n < g.N; ++n) {
    std::vector<Plane<T>> D;  // D[n, o]
    for (std::int64_t o = 0; o < g.O; ++o) D.push_back(dilate(g, dy + y_plane(g, n, o)));
    if (dw)
      for (std::int64_t c = 0; c < g.C; ++c) {
        const Plane<T> Xp = zero_pad(x + x_plane(g, n, c), g.H, g.W, g.ph, g.pw);
        for (std::int64_t o = 0; o < g.O; ++o) {
          // dW[o, c] += corr2d(Xp[n, c], D[n, o]), its top-left [kh, kw]
          const Plane<T> part = correlate(Xp, D[o].v.data(), D[o].h, D[o].w, g.kh, g.kw);
          T* to = dw + w_plane(g, o, c);
          for (std::int64_t k = 0; k < g.kh * g.kw; ++k) to[k] += part.v[static_cast<std::size_t>(k)];
        }
      }
    if (dx) {
      std::vector<Plane<T>> P;  // pad(D[n, o], kh - 1, kw - 1)
      for (const Plane<T>& d : D) P.push_back(zero_pad(d.v.data(), d.h, d.w, g.kh - 1, g.kw - 1));
      const std::int64_t FH = D[0].h + g.kh - 1, FW = D[0].w + g.kw - 1;  // (OH - 1) sh + kh <= Hp
      for (std::int64_t c = 0; c < g.C; ++c) {
        Plane<T> dXp(Hp, Wp);  // rows and columns past FH, FW stay zero
        for (std::int64_t o = 0; o < g.O; ++o)
          add_into(dXp, correlate(P[o], R[o * g.C + c].v.data(), g.kh, g.kw, FH, FW));
        T* to = dx + x_plane(g, n, c);
        for (std::int64_t i = 0; i < g.H; ++i)
          for (std::int64_t j = 0; j < g.W; ++j) to[i * g.W + j] = dXp(i + g.ph, j + g.pw);
      }
    }
  }
}

template void forward_naive<float>(const Geometry&, const float*, const float*, const float*, float*);
template void forward_naive<double>(const Geometry&, const double*, const double*, const double*, double*);
template void backward_naive<float>(const Geometry&, const float*, const float*, const float*, float*, float*, float*);
template void backward_naive<double>(const Geometry&, const double*, const double*, const double*, double*, double*,
                                     double*);
template void forward_rotated<float>(const Geometry&, const float*, const float*, const float*, float*);
template void forward_rotated<double>(const Geometry&, const double*, const double*, const double*, double*);
template void backward_rotated<float>(const Geometry&, const float*, const float*, const float*, float*, float*,
                                      float*);
template void backward_rotated<double>(const Geometry&, const double*, const double*, const double*, double*, double*,
                                       double*);

}  // namespace tg::conv
