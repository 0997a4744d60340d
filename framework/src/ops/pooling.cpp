// SPDX-License-Identifier: MIT
// Pooling (max and average over 2-D windows of NCHW tensors) and flatten.
//
// Every op here sees x as `planes` = N * C independent [H, W] images, and window (i, j) of a
// plane as the input rows [i sh - ph, i sh - ph + kh) and columns [j sw - pw, j sw - pw + kw),
// clipped to the image. With padding <= kernel / 2 and ceil_mode = false, every clipped
// window holds at least one input element, so a max over -inf padding is a max over the
// clipped window, and an average that counts the padding divides by kh * kw.
//
// Note: how the loops are laid out. Planes are independent, so they are split across
// threads. Within a plane, the windows of an output row that are not clipped ("interior"
// columns; all of them without padding) are swept one window row at a time, so that the
// innermost loop runs over output columns and vectorises; the few clipped windows at the
// borders take a plain per-window loop. Both visit a window's elements in row-major order,
// which the sums and the max's tie rule depend on. For 2x2 windows with stride 2 (LeNet's,
// and most networks') the window width and stride are compile-time constants, which lets
// the compiler turn the strided column reads into vector shuffles.
#include <algorithm>
#include <climits>
#include <cmath>
#include <memory>
#include <type_traits>

#include "ops/kernels.hpp"
#include "ops/parallel_for.hpp"
#include "tapegrad/ops/pooling.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

struct PoolGeometry {
  std::int64_t planes, h, w;  // x viewed as [planes, h, w]
  std::int64_t kh, kw, sh, sw, ph, pw;
  std::int64_t oh, ow;  // y viewed as [planes, oh, ow]
};

// Checks x and the options the way PyTorch does and works out the output size.
PoolGeometry pool_geometry(const char* op, const Shape& x, const Pool2dOptions& options) {
  if (x.rank() != 4)
    fail<ShapeError>("{}: input must be 4-D [N, C, H, W], got shape {}; reshape a single image to [1, C, H, W]", op, x);
  auto [kh, kw] = options.kernel_size;
  auto [sh, sw] = options.stride.value_or(options.kernel_size);
  auto [ph, pw] = options.padding;
  if (kh < 1 || kw < 1) fail<ValueError>("{}: kernel_size must be positive, got [{}, {}]; use sizes >= 1", op, kh, kw);
  if (sh < 1 || sw < 1) fail<ValueError>("{}: stride must be positive, got [{}, {}]; use strides >= 1", op, sh, sw);
  if (ph < 0 || pw < 0)
    fail<ValueError>("{}: padding must be non-negative, got [{}, {}]; use 0 for no padding", op, ph, pw);
  if (ph > kh / 2 || pw > kw / 2)
    fail<ValueError>("{}: padding [{}, {}] must be at most half of kernel_size [{}, {}] (rounded down), as in PyTorch",
                     op, ph, pw, kh, kw);
  std::int64_t h = x[2], w = x[3];
  if (h < 1 || w < 1) fail<ShapeError>("{}: input {} has an empty image; H and W must be at least 1", op, x);
  if (h + 2 * ph < kh || w + 2 * pw < kw)
    fail<ShapeError>(
        "{}: kernel_size [{}, {}] is larger than the padded input [{}, {}] (input {}, padding [{}, {}]); "
        "use a smaller kernel or more padding",
        op, kh, kw, h + 2 * ph, w + 2 * pw, x, ph, pw);
  return {x[0] * x[1], h, w, kh, kw, sh, sw, ph, pw, (h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1};
}

Shape output_shape(const Shape& x, const PoolGeometry& g) { return {x[0], x[1], g.oh, g.ow}; }

// The options that give geometry g (what a recorded backward passes on to the ops it calls).
Pool2dOptions options_of(const PoolGeometry& g) {
  return {.kernel_size = {g.kh, g.kw}, .stride = OptionalSize2(g.sh, g.sw), .padding = {g.ph, g.pw}};
}

// The gradient a pooling backward takes must have the pooling's output shape.
void check_grad_shape(const char* op, const Tensor& dy, const Shape& input_shape, const PoolGeometry& g) {
  if (!(dy.shape() == output_shape(input_shape, g)))
    fail<ShapeError>(
        "{}: dy {} is not the output shape {} of pooling input {} with kernel_size [{}, {}], stride [{}, {}] and "
        "padding [{}, {}]; pass the gradient of the pooling's result, with the options of that call",
        op, dy.shape(), output_shape(input_shape, g), input_shape, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw);
}

// The rows [r0, r1) or columns of window `index` along one dim, clipped to [0, size).
struct Span {
  std::int64_t begin, end;
};
Span clipped(std::int64_t index, std::int64_t stride, std::int64_t pad, std::int64_t kernel, std::int64_t size) {
  std::int64_t start = index * stride - pad;
  return {std::max<std::int64_t>(start, 0), std::min(start + kernel, size)};
}

// The output columns whose windows need no clipping: [begin, end), within [0, ow).
Span interior_columns(const PoolGeometry& g) {
  std::int64_t begin = std::min((g.pw + g.sw - 1) / g.sw, g.ow);  // first j with j sw - pw >= 0
  std::int64_t end = g.w + g.pw < g.kw ? 0 : std::min((g.w + g.pw - g.kw) / g.sw + 1, g.ow);
  return {begin, std::max(begin, end)};
}

// Calls f(plane, kw, sw) for every plane, split across threads when there is enough work;
// kw and sw are std::integral_constants for 2x2 windows with stride 2 (see the note above).
template <class F>
void for_each_plane(const PoolGeometry& g, F f) {
  auto run = [&](auto kw, auto sw) {
    kernels::parallel_for(g.planes, g.h * g.w, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t plane = begin; plane < end; ++plane) f(plane, kw, sw);
    });
  };
  using Two = std::integral_constant<std::int64_t, 2>;
  if (g.kw == 2 && g.sw == 2)
    run(Two{}, Two{});
  else
    run(g.kw, g.sw);
}

// One plane of max_pool2d: y [oh, ow] and the argmax offsets into the plane x [h, w].
// Note: one window at a time. Vectorising over the output columns does not pay: LeNet's
// rows are 14 and 5 outputs wide, shorter than one AVX-512 vector. Only the index of the
// running max is selected (the value is re-read from x): GCC compiles an integer select
// to a conditional move, where a float select became a branch that random data mispredicts.
template <class T, class K, class S>
void max_pool_plane(const PoolGeometry& g, K kw, S sw, const T* x, T* y, std::int64_t* arg) {
  Span inner = interior_columns(g);
  for (std::int64_t i = 0; i < g.oh; ++i) {
    Span rows = clipped(i, g.sh, g.ph, g.kh, g.h);
    auto window = [&](std::int64_t j, std::int64_t c0, auto width) {
      std::int64_t best_at = rows.begin * g.w + c0;
      for (std::int64_t r = rows.begin; r < rows.end; ++r)
        for (std::int64_t b = 0; b < width; ++b) {
          T v = x[r * g.w + c0 + b], best = x[best_at];
          bool take = (v > best) | (v != v);  // strict >: ties keep the first; NaN wins (PyTorch's rule)
          best_at = take ? r * g.w + c0 + b : best_at;
        }
      y[i * g.ow + j] = x[best_at];
      arg[i * g.ow + j] = best_at;
    };
    auto border = [&](std::int64_t j) {
      Span cols = clipped(j, sw, g.pw, kw, g.w);
      window(j, cols.begin, cols.end - cols.begin);
    };
    for (std::int64_t j = 0; j < inner.begin; ++j) border(j);
    for (std::int64_t j = inner.begin; j < inner.end; ++j) window(j, j * sw - g.pw, kw);
    for (std::int64_t j = inner.end; j < g.ow; ++j) border(j);
  }
}

// One plane of avg_pool2d: y [oh, ow] from x [h, w]; each window summed in row-major order.
template <class T, class K, class S>
void avg_pool_plane(const PoolGeometry& g, K kw, S sw, const T* x, T* y) {
  const auto area = static_cast<T>(g.kh * g.kw);
  Span inner = interior_columns(g);
  for (std::int64_t i = 0; i < g.oh; ++i) {
    Span rows = clipped(i, g.sh, g.ph, g.kh, g.h);
    T* out = y + i * g.ow;  // [ow]
    auto window = [&](std::int64_t j) {
      Span cols = clipped(j, sw, g.pw, kw, g.w);
      T total = 0;
      for (std::int64_t r = rows.begin; r < rows.end; ++r)
        for (std::int64_t c = cols.begin; c < cols.end; ++c) total += x[r * g.w + c];
      out[j] = total / area;
    };
    for (std::int64_t j = 0; j < inner.begin; ++j) window(j);
    for (std::int64_t j = inner.end; j < g.ow; ++j) window(j);
    for (std::int64_t r = rows.begin; r < rows.end; ++r) {
      const T* row = x + r * g.w;
      for (std::int64_t j = inner.begin; j < inner.end; ++j) {
        T total = r == rows.begin ? T(0) : out[j];
        for (std::int64_t b = 0; b < kw; ++b) total += row[j * sw - g.pw + b];
        out[j] = total;
      }
    }
    for (std::int64_t j = inner.begin; j < inner.end; ++j) out[j] /= area;
  }
}

// One plane of avg_pool2d's backward: dx [h, w] = the sum of dy / (kh kw) over the windows
// that hold each element (zero for elements in none).
template <class T, class K, class S>
void avg_pool_backward_plane(const PoolGeometry& g, K kw, S sw, const T* dy, T* dx) {
  const auto area = static_cast<T>(g.kh * g.kw);
  Span inner = interior_columns(g);
  std::fill(dx, dx + g.h * g.w, T(0));  // one plane: it stays in L1 for the adds below
  for (std::int64_t i = 0; i < g.oh; ++i) {
    Span rows = clipped(i, g.sh, g.ph, g.kh, g.h);
    const T* grad = dy + i * g.ow;  // [ow]
    for (std::int64_t r = rows.begin; r < rows.end; ++r) {
      T* row = dx + r * g.w;
      auto window_row = [&](std::int64_t j) {
        Span cols = clipped(j, sw, g.pw, kw, g.w);
        for (std::int64_t c = cols.begin; c < cols.end; ++c) row[c] += grad[j] / area;
      };
      for (std::int64_t j = 0; j < inner.begin; ++j) window_row(j);
      for (std::int64_t j = inner.end; j < g.ow; ++j) window_row(j);
      for (std::int64_t j = inner.begin; j < inner.end; ++j) {
        T share = grad[j] / area;
        for (std::int64_t b = 0; b < kw; ++b) row[j * sw - g.pw + b] += share;
      }
    }
  }
}

// dx [input_shape] = zeros with dy[o] added at argmax[o] of its plane, unrecorded.
Tensor max_pool_backward_kernel(const PoolGeometry& g, const Tensor& dy, const Tensor& indices,
                                const Shape& input_shape) {
  const std::int64_t* argmax = indices.data<std::int64_t>();
  Tensor dx = empty(input_shape, {.dtype = dy.dtype()});
  dispatch_floating("max_pool2d_backward", dy.dtype(), [&]<class T>() {
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    kernels::parallel_for(g.planes, g.h * g.w, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t p = begin; p < end; ++p) {
        T* plane = pdx + p * g.h * g.w;
        std::fill(plane, plane + g.h * g.w, T(0));
        for (std::int64_t o = p * g.oh * g.ow; o < (p + 1) * g.oh * g.ow; ++o) plane[argmax[o]] += pdy[o];
      }
    });
  });
  return dx;
}

// max_pool2d_backward once its arguments are checked: the kernel, recorded when dy requires grad.
// dx[p] = sum_{o : argmax[o] = p} dy[o] is linear in dy, and its adjoint picks:
//   d(dy)[o] = G[argmax[o]]   (gather along the flattened planes)
// jvp: dx' = max_pool2d_backward(dy', indices)   (linear in dy; the indices are fixed)
// (Here rather than in max_pool2d_backward, so that max_pool2d's backward run inside a dual
// level, which calls this function, also gives its gradient a tangent.)
Tensor max_pool_backward(const PoolGeometry& g, const Tensor& dy, const Tensor& indices, const Shape& input_shape) {
  Tensor dx = max_pool_backward_kernel(g, dy, indices, input_shape);
  if (should_record(dy))
    record(op::max_pool2d_backward, {dy, indices}, dx, {indices}, [g](BackwardContext& ctx) {
      Tensor picked =
          gather(reshape(ctx.grad(), {g.planes, g.h * g.w}), 1, reshape(ctx.saved(0), {g.planes, g.oh * g.ow}));
      ctx.accumulate(0, reshape(picked, ctx.input_shape(0)));
    });
  if (has_tangent(dy))
    record_jvp(op::max_pool2d_backward, dx, [&] { return max_pool_backward(g, tangent(dy), indices, input_shape); });
  return dx;
}

// dx [input_shape] = the sum of dy / (kh kw) over the windows that hold each element, unrecorded.
Tensor avg_pool_backward_kernel(const PoolGeometry& g, const Tensor& dy, const Shape& input_shape) {
  Tensor dx = empty(input_shape, {.dtype = dy.dtype()});
  dispatch_floating("avg_pool2d_backward", dy.dtype(), [&]<class T>() {
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    for_each_plane(g, [&](std::int64_t p, auto kw, auto sw) {
      avg_pool_backward_plane(g, kw, sw, pdy + p * g.oh * g.ow, pdx + p * g.h * g.w);
    });
  });
  return dx;
}

// avg_pool2d_backward once its arguments are checked: the kernel, recorded when dy requires grad.
// dx is linear in dy, and its adjoint is the average pooling itself:
//   d(dy) = avg_pool2d(G)   (the same windows)
// jvp: dx' = avg_pool2d_backward(dy')   (linear; here for the same reason as max_pool_backward's)
Tensor avg_pool_backward(const PoolGeometry& g, const Tensor& dy, const Shape& input_shape) {
  Tensor dx = avg_pool_backward_kernel(g, dy, input_shape);
  if (should_record(dy))
    record(op::avg_pool2d_backward, {dy}, dx, {},
           [g](BackwardContext& ctx) { ctx.accumulate(0, avg_pool2d(ctx.grad(), options_of(g))); });
  if (has_tangent(dy))
    record_jvp(op::avg_pool2d_backward, dx, [&] { return avg_pool_backward(g, tangent(dy), input_shape); });
  return dx;
}

}  // namespace

// y[o] = max_{p in window(o)} x[p],  argmax[o] = the first p (row-major) that attains it
// dx[p] = sum_{o : argmax[o] = p} dy[o]   (max_pool2d_backward, which records under create_graph)
// Note: the gradient of a max is a subgradient where the window has ties; like PyTorch we
// send it all to the first maximum, so that results agree with PyTorch's number for number.
// jvp: y'[o] = x'[argmax[o]]   (the tangent picked at each window's maximum: a gather)
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options) {
  kernels::check_input(op::max_pool2d, x);
  PoolGeometry g = pool_geometry("max_pool2d", x.shape(), options);
  Tensor y = empty(output_shape(x.shape(), g), {.dtype = x.dtype()});
  // Offsets of each window's maximum within its plane, as PyTorch's indices.
  Tensor argmax = empty(y.shape(), {.dtype = kInt64});
  dispatch_floating("max_pool2d", x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    std::int64_t* pa = argmax.data<std::int64_t>();
    for_each_plane(g, [&](std::int64_t p, auto kw, auto sw) {
      max_pool_plane(g, kw, sw, px + p * g.h * g.w, py + p * g.oh * g.ow, pa + p * g.oh * g.ow);
    });
  });
  if (should_record(x)) {
    record(op::max_pool2d, {x}, y, {argmax}, [g](BackwardContext& ctx) {
      ctx.accumulate(0, max_pool_backward(g, ctx.grad(), ctx.saved(0), ctx.input_shape(0)));
    });
  }
  if (has_tangent(x))
    record_jvp(op::max_pool2d, y, [&] {
      Tensor picked = gather(reshape(tangent(x), {g.planes, g.h * g.w}), 1, reshape(argmax, {g.planes, g.oh * g.ow}));
      return reshape(picked, y.shape());
    });
  return y;
}

// dx[n, c, p] = sum_{o : indices[n, c, o] = p} dy[n, c, o]   (p, o: offsets within a plane)
Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& input_shape,
                           const Pool2dOptions& options) {
  const char* op = "max_pool2d_backward";
  kernels::check_input(op::max_pool2d_backward, dy, "dy");
  kernels::check_defined(op, indices, "the indices");
  if (indices.dtype() != kInt64)
    fail<DtypeError>(
        "{}: the indices must be an int64 tensor (the offsets of each window's maximum in its plane), got {}; "
        "convert them with .to(tg::kInt64)",
        op, dtype_name(indices.dtype()));
  PoolGeometry g = pool_geometry(op, input_shape, options);
  check_grad_shape(op, dy, input_shape, g);
  if (!(indices.shape() == dy.shape()))
    fail<ShapeError>("{}: the indices {} must have the shape of dy {}, one per window; pass max_pool2d's own indices",
                     op, indices.shape(), dy.shape());
  // Each index must lie in its own window, as max_pool2d's do.
  const std::int64_t* argmax = indices.data<std::int64_t>();
  for (std::int64_t p = 0; p < g.planes; ++p)
    for (std::int64_t i = 0; i < g.oh; ++i)
      for (std::int64_t j = 0; j < g.ow; ++j) {
        const std::int64_t at = argmax[(p * g.oh + i) * g.ow + j];
        Span rows = clipped(i, g.sh, g.ph, g.kh, g.h), cols = clipped(j, g.sw, g.pw, g.kw, g.w);
        const std::int64_t r = at < 0 ? -1 : at / g.w, c = at < 0 ? -1 : at % g.w;
        if (at < 0 || at >= g.h * g.w || r < rows.begin || r >= rows.end || c < cols.begin || c >= cols.end)
          fail<ValueError>(
              "{}: index {} of window ({}, {}) in plane {} is outside that window (rows [{}, {}), columns [{}, {}) "
              "of a {}x{} plane); pass the indices max_pool2d computed with the same options",
              op, at, i, j, p, rows.begin, rows.end, cols.begin, cols.end, g.h, g.w);
      }
  return max_pool_backward(g, dy, indices, input_shape);
}

// y[o] = (1 / (kh kw)) sum_{p in window(o)} x[p]   (padding contributes zeros)
// dx[p] = sum_{o : p in window(o)} dy[o] / (kh kw)   (avg_pool2d_backward, which records under
// create_graph)
// jvp: y' = avg_pool2d(x')   (linear)
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options) {
  kernels::check_input(op::avg_pool2d, x);
  PoolGeometry g = pool_geometry("avg_pool2d", x.shape(), options);
  Tensor y = empty(output_shape(x.shape(), g), {.dtype = x.dtype()});
  dispatch_floating("avg_pool2d", x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_plane(g, [&](std::int64_t p, auto kw, auto sw) {
      avg_pool_plane(g, kw, sw, px + p * g.h * g.w, py + p * g.oh * g.ow);
    });
  });
  if (should_record(x)) {
    record(op::avg_pool2d, {x}, y, {},
           [g](BackwardContext& ctx) { ctx.accumulate(0, avg_pool_backward(g, ctx.grad(), ctx.input_shape(0))); });
  }
  if (has_tangent(x)) record_jvp(op::avg_pool2d, y, [&] { return avg_pool2d(tangent(x), options); });
  return y;
}

// dx[n, c, p] = sum_{o : p in window(o)} dy[n, c, o] / (kh kw)
Tensor avg_pool2d_backward(const Tensor& dy, const Shape& input_shape, const Pool2dOptions& options) {
  const char* op = "avg_pool2d_backward";
  kernels::check_input(op::avg_pool2d_backward, dy, "dy");
  PoolGeometry g = pool_geometry(op, input_shape, options);
  check_grad_shape(op, dy, input_shape, g);
  return avg_pool_backward(g, dy, input_shape);
}

// y = x viewed with dims start..end merged: [d0, ..., d_start * ... * d_end, ..., d_last]
// dx = dy viewed as x's shape (reshape records its own backward)
Tensor flatten(const Tensor& x, int start_dim, int end_dim) {
  kernels::check_defined("flatten", x);
  int start = normalize_dim("flatten", start_dim, x.dim());
  int end = normalize_dim("flatten", end_dim, x.dim());
  if (start > end)
    fail<ValueError>("flatten: start_dim {} comes after end_dim {} for a tensor of shape {}; swap them", start_dim,
                     end_dim, x.shape());
  if (x.dim() == 0) return reshape(x, Shape{1});
  Shape shape;
  for (int d = 0; d < start; ++d) shape.push_back(x.size(d));
  std::int64_t merged = 1;
  for (int d = start; d <= end; ++d) merged *= x.size(d);
  shape.push_back(merged);
  for (int d = end + 1; d < x.dim(); ++d) shape.push_back(x.size(d));
  return reshape(x, shape);
}

}  // namespace tg
