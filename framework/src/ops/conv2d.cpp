// conv2d: corr2d (ops/corr2d.cpp) summed over input channels, for a batch, with stride
// (sh, sw) and zero padding (ph, pw). Xp[n, c] is x[n, c] with ph zero rows above and below
// and pw zero columns left and right; dY = dL/dY.
//
// Forward, x [N, C, H, W], W [O, C, kh, kw], b [O] -> Y [N, O, OH, OW]:
//   Y[n, o, i, j] = b[o] + sum_{c, a < kh, b' < kw} Xp[n, c, sh i + a, sw j + b'] W[o, c, a, b']
//                 = b[o] + sum_c corr2d(Xp[n, c], W[o, c])[sh i, sw j]
//   OH = (H + 2 ph - kh) / sh + 1,  OW = (W + 2 pw - kw) / sw + 1
//
// Backward. Let D[n, o] be dY[n, o] dilated by the stride: D[sh i, sw j] = dY[i, j] and zero
// between, so that sum_{i, j} dY[i, j] f(sh i, sw j) = sum_{u, v} D[u, v] f(u, v). Then corr2d's
// two rules (docs/autograd.md, section 5) hold channel by channel:
//   dW[o, c, a, b'] = sum_{n, i, j} dY[n, o, i, j] Xp[n, c, sh i + a, sw j + b']
//                   = sum_n corr2d(Xp[n, c], D[n, o])[a, b']      (its top-left [kh, kw])
//   dXp[n, c, p, q] = sum_{o, a, b'} D[n, o, p - a, q - b'] W[o, c, a, b']
//                   = sum_o (full convolution of D[n, o] with W[o, c])[p, q]
//   dx[n, c]        = dXp[n, c] without its ph border rows and pw border columns
//   db[o]           = sum_{n, i, j} dY[n, o, i, j]
//
// Note: why im2col. Copy every kh x kw window of Xp[n] into one column of
// cols[(c, a, b'), (i, j)] = Xp[n, c, sh i + a, sw j + b']   ([C kh kw, OH OW]).
// The sums above then become matrix products over all channels at once, which Eigen runs
// near the machine's peak, instead of C O kh kw small block updates:
//   Y[n]   = W [O, C kh kw] cols + b          dW += dY[n] [O, OH OW] cols^T
//   dx[n]  = col2im(W^T dY[n])                (col2im adds each entry of a [C kh kw, OH OW]
//                                              matrix back to the Xp element it was copied
//                                              from, dropping those on the padding)
// The price is one cols buffer per call, reused across the batch.
#include <algorithm>

#include "ops/kernels.hpp"
#include "tapegrad/ops/conv2d.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// The sizes of one conv2d, checked once by geometry().
struct Geometry {
  std::int64_t N, C, H, W, O, kh, kw, sh, sw, ph, pw, OH, OW;
  std::int64_t patch() const { return C * kh * kw; }  // rows of cols
  std::int64_t pixels() const { return OH * OW; }     // columns of cols
  std::int64_t image() const { return C * H * W; }    // elements of x[n]
  Shape output_shape() const { return {N, O, OH, OW}; }
};

Geometry geometry(const char* op, const Shape& x, const Shape& w, const Conv2dOptions& options) {
  auto [sh, sw] = options.stride;
  auto [ph, pw] = options.padding;
  if (x.rank() != 4)
    fail<ShapeError>("{}: input must be 4-D [N, C, H, W], got shape {}; a single image [C, H, W] needs a batch dim", op,
                     x);
  if (w.rank() != 4) fail<ShapeError>("{}: weight must be 4-D [O, C, kh, kw], got shape {}", op, w);
  if (x[1] != w[1])
    fail<ShapeError>("{}: input has {} channels but weight expects {} ([O={}, C={}, {}, {}]); input shape is {}", op,
                     x[1], w[1], w[0], w[1], w[2], w[3], x);
  if (sh <= 0 || sw <= 0) fail<ValueError>("{}: stride must be positive, got ({}, {})", op, sh, sw);
  if (ph < 0 || pw < 0) fail<ValueError>("{}: padding must be non-negative, got ({}, {})", op, ph, pw);
  if (w[2] == 0 || w[3] == 0)
    fail<ShapeError>("{}: weight {} has an empty kernel; kh and kw must be at least 1", op, w);
  if (w[2] > x[2] + 2 * ph || w[3] > x[3] + 2 * pw)
    fail<ShapeError>(
        "{}: kernel [{}, {}] is larger than the padded input [{}, {}] (input {} with padding ({}, {})); pad more "
        "or use a smaller kernel",
        op, w[2], w[3], x[2] + 2 * ph, x[3] + 2 * pw, x, ph, pw);
  return {x[0],
          x[1],
          x[2],
          x[3],
          w[0],
          w[2],
          w[3],
          sh,
          sw,
          ph,
          pw,
          (x[2] + 2 * ph - w[2]) / sh + 1,
          (x[3] + 2 * pw - w[3]) / sw + 1};
}

void check_grad_shape(const char* op, const Tensor& dY, const Geometry& g, const Shape& x, const Shape& w) {
  if (!(dY.shape() == g.output_shape()))
    fail<ShapeError>("{}: dY {} is not conv2d's output shape {} for input {} and weight {}", op, dY.shape(),
                     g.output_shape(), x, w);
}

// Walks the pairing cols[(c, a, b), (i, j)] = Xp[c, sh i + a, sw j + b] = x[c, sh i + a - ph,
// sw j + b - pw] for one image. For every row segment cols[(c, a, b), (i, 0 : OW)] it calls
// f(offset in cols, offset in x of j = 0, j0, j1): entries j in [j0, j1) pair with
// x[offset + sw j], the others fall on the padding.
template <class F>
void for_each_segment(const Geometry& g, F f) {
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t a = 0; a < g.kh; ++a)
      for (std::int64_t b = 0; b < g.kw; ++b) {
        std::int64_t row = (c * g.kh + a) * g.kw + b;
        std::int64_t first = b - g.pw;  // the x column that j = 0 reads
        std::int64_t j0 = std::min(g.OW, first >= 0 ? 0 : (-first + g.sw - 1) / g.sw);
        std::int64_t j1 = std::max(j0, first >= g.W ? 0 : std::min(g.OW, (g.W - 1 - first) / g.sw + 1));
        for (std::int64_t i = 0; i < g.OH; ++i) {
          std::int64_t y = g.sh * i + a - g.ph;
          bool inside = y >= 0 && y < g.H;
          f(row * g.pixels() + i * g.OW, (c * g.H + y) * g.W + first, inside ? j0 : 0, inside ? j1 : 0);
        }
      }
}

// n consecutive elements of a buffer, as an Eigen array.
// Note: with stride 1 along a row (the common case) im2col and col2im move whole runs as
// Eigen arrays, which inline and vectorise; a runtime stride in the index keeps the loop
// scalar, and std::copy of a ~30-float run spends its time calling memmove.
template <class T>
using Run = Eigen::Map<kernels::Array<T>>;
template <class T>
using ConstRun = Eigen::Map<const kernels::Array<T>>;

template <class T>
void im2col(const T* x, const Geometry& g, T* cols) {
  for_each_segment(g, [&](std::int64_t at, std::int64_t from, std::int64_t j0, std::int64_t j1) {
    T* segment = cols + at;
    std::fill(segment, segment + j0, T(0));
    if (g.sw == 1) {
      Run<T>(segment + j0, j1 - j0) = ConstRun<T>(x + (from + j0), j1 - j0);
    } else {
      for (std::int64_t j = j0; j < j1; ++j) segment[j] = x[from + g.sw * j];
    }
    std::fill(segment + j1, segment + g.OW, T(0));
  });
}

// x += the entries of cols, each at the x element im2col copied it from.
template <class T>
void col2im(const T* cols, const Geometry& g, T* x) {
  for_each_segment(g, [&](std::int64_t at, std::int64_t to, std::int64_t j0, std::int64_t j1) {
    if (g.sw == 1) {
      Run<T>(x + (to + j0), j1 - j0) += ConstRun<T>(cols + (at + j0), j1 - j0);
    } else {
      for (std::int64_t j = j0; j < j1; ++j) x[to + g.sw * j] += cols[at + j];
    }
  });
}

// db[o] = sum_{n, i, j} dY[n, o, i, j]
Tensor conv2d_backward_bias(const Tensor& dY) {
  std::int64_t N = dY.size(0), O = dY.size(1), pixels = dY.size(2) * dY.size(3);
  Tensor db = zeros({O}, {.dtype = dY.dtype()});
  dispatch(dY.dtype(), [&]<class T>() {
    for (std::int64_t n = 0; n < N; ++n)
      kernels::vec<T>(db) += kernels::mat<T>(dY, O, pixels, n * O * pixels).rowwise().sum().array();
  });
  return db;
}

}  // namespace

// dx[n] = col2im(W^T dY[n])  [C kh kw, O] x [O, OH OW]
Tensor conv2d_backward_input(const Tensor& dY_in, const Tensor& weight_in, const Shape& input_shape,
                             const Conv2dOptions& options) {
  const char* op = "conv2d_backward_input";
  Geometry g = geometry(op, input_shape, weight_in.shape(), options);
  check_grad_shape(op, dY_in, g, input_shape, weight_in.shape());
  Dtype dtype = kernels::promote(dY_in, weight_in);
  Tensor dY = kernels::cast(dY_in, dtype), weight = kernels::cast(weight_in, dtype);
  Tensor dx = zeros(input_shape, {.dtype = dtype});
  dispatch(dtype, [&]<class T>() {
    auto w = kernels::mat<T>(weight, g.O, g.patch());  // [O, C kh kw]
    kernels::RowMajorMatrix<T> dcols(g.patch(), g.pixels());
    for (std::int64_t n = 0; n < g.N; ++n) {
      dcols.noalias() = w.transpose() * kernels::mat<T>(dY, g.O, g.pixels(), n * g.O * g.pixels());
      col2im(dcols.data(), g, dx.data<T>() + n * g.image());
    }
  });
  return dx;
}

// dW = sum_n dY[n] cols[n]^T  [O, OH OW] x [OH OW, C kh kw]
Tensor conv2d_backward_weight(const Tensor& x_in, const Tensor& dY_in, const Shape& weight_shape,
                              const Conv2dOptions& options) {
  const char* op = "conv2d_backward_weight";
  Geometry g = geometry(op, x_in.shape(), weight_shape, options);
  check_grad_shape(op, dY_in, g, x_in.shape(), weight_shape);
  Dtype dtype = kernels::promote(x_in, dY_in);
  Tensor x = kernels::cast(x_in, dtype), dY = kernels::cast(dY_in, dtype);
  Tensor dw = zeros(weight_shape, {.dtype = dtype});
  dispatch(dtype, [&]<class T>() {
    auto dw_mat = kernels::mat<T>(dw, g.O, g.patch());
    kernels::RowMajorMatrix<T> cols(g.patch(), g.pixels());
    for (std::int64_t n = 0; n < g.N; ++n) {
      im2col(x.data<T>() + n * g.image(), g, cols.data());
      dw_mat.noalias() += kernels::mat<T>(dY, g.O, g.pixels(), n * g.O * g.pixels()) * cols.transpose();
    }
  });
  return dw;
}

// Y[n] = W cols[n] + b       (see the top of this file)
// dx = conv2d_backward_input(dY, W, x.shape)
// dW = conv2d_backward_weight(x, dY, W.shape)
// db = dY summed over n, i, j
Tensor conv2d(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in, const Conv2dOptions& options) {
  Geometry g = geometry("conv2d", x_in.shape(), weight_in.shape(), options);
  if (bias_in.defined() && !(bias_in.shape() == Shape{g.O}))
    fail<ShapeError>("conv2d: bias must have shape [O] = [{}] to match weight {}, got {}", g.O, weight_in.shape(),
                     bias_in.shape());
  Dtype dtype = kernels::promote(x_in, weight_in);
  if (bias_in.defined() && bias_in.dtype() != dtype) dtype = kFloat64;
  Tensor x = kernels::cast(x_in, dtype), weight = kernels::cast(weight_in, dtype);
  Tensor bias = bias_in.defined() ? kernels::cast(bias_in, dtype) : Tensor();
  Tensor Y = empty(g.output_shape(), {.dtype = dtype});
  dispatch(dtype, [&]<class T>() {
    auto w = kernels::mat<T>(weight, g.O, g.patch());  // [O, C kh kw]
    kernels::RowMajorMatrix<T> cols(g.patch(), g.pixels());
    for (std::int64_t n = 0; n < g.N; ++n) {
      im2col(x.data<T>() + n * g.image(), g, cols.data());
      auto y = kernels::mat<T>(Y, g.O, g.pixels(), n * g.O * g.pixels());  // [O, OH OW]
      y.noalias() = w * cols;
      if (bias.defined()) y.colwise() += kernels::vec<T>(bias).matrix();
    }
  });
  if (should_record(x_in, weight_in, bias_in))
    record("conv2d", {x_in, weight_in, bias_in}, Y,
           [x = saved_for(x_in, weight_in), weight = saved_for(weight_in, x_in), input_shape = x_in.shape(),
            weight_shape = weight_in.shape(), options](const Tensor& dY, Gradients& in) {
             if (in.needs(0)) in.accumulate(0, conv2d_backward_input(dY, weight, input_shape, options));
             if (in.needs(1)) in.accumulate(1, conv2d_backward_weight(x, dY, weight_shape, options));
             if (in.needs(2)) in.accumulate(2, conv2d_backward_bias(dY));
           });
  return Y;
}

}  // namespace tg
