// SPDX-License-Identifier: MIT
// Resampling: adaptive_avg_pool2d and interpolate, and their backward halves (resample.hpp).
//
// Each is Y[p] = Mh X[p] Mw^T on every plane p = (n, c), with Mh [OH, H] and Mw [OW, W]
// sparse: output row i of an axis reads a few input rows with weights (its "taps"). The
// forward applies Mw then Mh; the backward applies their transposes, Mh^T then Mw^T:
//   tmp [H, OW] = X Mw^T          Y = Mh tmp
//   tmp [H, OW] = Mh^T dY         dX = tmp Mw
// The taps follow PyTorch's CPU kernels index for index (UpSampleKernel.cpp,
// AdaptiveAveragePooling.cpp), so that the results agree with PyTorch's to rounding.
#include "tapegrad/ops/resample.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/kernels.hpp"
#include "ops/parallel_for.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

enum class Kind { adaptive_avg, nearest, bilinear, bilinear_aligned };

Kind kind_of(const InterpolateOptions& options) {
  if (options.mode == InterpolateMode::nearest) return Kind::nearest;
  return options.align_corners ? Kind::bilinear_aligned : Kind::bilinear;
}

// One axis of the map: output i reads index[k] with weight[k] for k in [start[i], start[i + 1]).
template <class T>
struct Taps {
  std::vector<std::int64_t> start, index;
  std::vector<T> weight;
};

template <class T>
Taps<T> taps(Kind kind, std::int64_t in, std::int64_t out) {
  Taps<T> t;
  t.start.reserve(static_cast<std::size_t>(out + 1));
  t.start.push_back(0);
  auto tap = [&](std::int64_t index, T weight) {
    t.index.push_back(index);
    t.weight.push_back(weight);
  };
  for (std::int64_t i = 0; i < out; ++i) {
    switch (kind) {
      case Kind::adaptive_avg: {  // rows [floor(i in / out), ceil((i + 1) in / out))
        const std::int64_t begin = (i / out) * in + ((i % out) * in) / out;
        const std::int64_t end = 1 + ((i + 1) * in - 1) / out;
        for (std::int64_t r = begin; r < end; ++r) tap(r, T(1) / static_cast<T>(end - begin));
        break;
      }
      case Kind::nearest: {  // PyTorch's nearest_idx, with its float scale
        std::int64_t r = i;
        if (out == 2 * in) {
          r = i >> 1;
        } else if (out != in) {
          const float scale = static_cast<float>(in) / static_cast<float>(out);
          r = std::min(static_cast<std::int64_t>(std::floor(static_cast<float>(i) * scale)), in - 1);
        }
        tap(r, T(1));
        break;
      }
      case Kind::bilinear:
      case Kind::bilinear_aligned: {  // PyTorch's compute_source_index_and_lambda
        if (out == in) {
          tap(i, T(1));
          break;
        }
        const bool aligned = kind == Kind::bilinear_aligned;
        const T scale = aligned ? (out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0))
                                : static_cast<T>(in) / static_cast<T>(out);
        T source = aligned ? scale * static_cast<T>(i) : scale * (static_cast<T>(i) + T(0.5)) - T(0.5);
        if (source < 0) source = 0;
        const auto r0 = static_cast<std::int64_t>(source);
        const std::int64_t r1 = r0 + (r0 < in - 1 ? 1 : 0);
        const T lambda1 = std::min(std::max(source - static_cast<T>(r0), T(0)), T(1));
        tap(r0, T(1) - lambda1);
        tap(r1, lambda1);  // at the last row both taps are the same row, as in PyTorch
        break;
      }
    }
    t.start.push_back(static_cast<std::int64_t>(t.index.size()));
  }
  return t;
}

// Checks an NCHW shape and an output size, naming the op.
void check_geometry(const char* op, const Shape& x, Size2 size) {
  if (x.rank() != 4)
    fail<ShapeError>("{}: input must be 4-D [N, C, H, W], got shape {}; reshape a single image to [1, C, H, W]", op, x);
  if (x[2] < 1 || x[3] < 1) fail<ShapeError>("{}: input {} has an empty image; H and W must be at least 1", op, x);
  if (size.h < 1 || size.w < 1)
    fail<ValueError>("{}: the output size must be positive, got [{}, {}]; use sizes >= 1", op, size.h, size.w);
}

// dy must be [N, C, OH, OW] for an input of shape x.
Size2 check_grad(const char* op, const Tensor& dy, const Shape& x) {
  if (x.rank() != 4)
    fail<ShapeError>("{}: the input shape must be 4-D [N, C, H, W], got {}; pass the forward input's shape", op, x);
  if (dy.dim() != 4 || dy.size(0) != x[0] || dy.size(1) != x[1])
    fail<ShapeError>(
        "{}: dy {} does not fit the input shape {}: it must be [{}, {}, OH, OW]; pass the gradient of the forward "
        "call's result",
        op, dy.shape(), x, x[0], x[1]);
  Size2 size{dy.size(2), dy.size(3)};
  check_geometry(op, x, size);
  return size;
}

// Y [N, C, OH, OW] = Mh X Mw^T on every plane, unrecorded.
Tensor resample_kernel(const char* op, Kind kind, const Tensor& x, Size2 size) {
  const std::int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3), oh = size.h, ow = size.w;
  Tensor y = empty({x.size(0), x.size(1), oh, ow}, {.dtype = x.dtype()});
  dispatch_floating(op, x.dtype(), [&]<class T>() {
    const Taps<T> th = taps<T>(kind, h, oh), tw = taps<T>(kind, w, ow);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    kernels::parallel_for(planes, h * w + oh * ow, [&](std::int64_t begin, std::int64_t end) {
      std::vector<T> tmp(static_cast<std::size_t>(h * ow));  // X Mw^T, one plane
      for (std::int64_t p = begin; p < end; ++p) {
        const T* X = px + p * h * w;
        T* Y = py + p * oh * ow;
        for (std::int64_t r = 0; r < h; ++r)
          for (std::int64_t j = 0; j < ow; ++j) {
            T sum = 0;
            for (std::int64_t k = tw.start[j]; k < tw.start[j + 1]; ++k) sum += tw.weight[k] * X[r * w + tw.index[k]];
            tmp[r * ow + j] = sum;
          }
        for (std::int64_t i = 0; i < oh; ++i) {
          T* row = Y + i * ow;
          std::fill(row, row + ow, T(0));
          for (std::int64_t k = th.start[i]; k < th.start[i + 1]; ++k) {
            const T weight = th.weight[k];
            const T* src = tmp.data() + th.index[k] * ow;
            for (std::int64_t j = 0; j < ow; ++j) row[j] += weight * src[j];
          }
        }
      }
    });
  });
  return y;
}

// dX [input_shape] = Mh^T dY Mw on every plane, unrecorded.
Tensor resample_backward_kernel(const char* op, Kind kind, const Tensor& dy, const Shape& input_shape) {
  const std::int64_t planes = input_shape[0] * input_shape[1], h = input_shape[2], w = input_shape[3];
  const std::int64_t oh = dy.size(2), ow = dy.size(3);
  Tensor dx = empty(input_shape, {.dtype = dy.dtype()});
  dispatch_floating(op, dy.dtype(), [&]<class T>() {
    const Taps<T> th = taps<T>(kind, h, oh), tw = taps<T>(kind, w, ow);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    kernels::parallel_for(planes, h * w + oh * ow, [&](std::int64_t begin, std::int64_t end) {
      std::vector<T> tmp(static_cast<std::size_t>(h * ow));  // Mh^T dY, one plane
      for (std::int64_t p = begin; p < end; ++p) {
        const T* dY = pdy + p * oh * ow;
        T* dX = pdx + p * h * w;
        std::fill(tmp.begin(), tmp.end(), T(0));
        for (std::int64_t i = 0; i < oh; ++i)
          for (std::int64_t k = th.start[i]; k < th.start[i + 1]; ++k) {
            const T weight = th.weight[k];
            T* dst = tmp.data() + th.index[k] * ow;
            for (std::int64_t j = 0; j < ow; ++j) dst[j] += weight * dY[i * ow + j];
          }
        std::fill(dX, dX + h * w, T(0));
        for (std::int64_t r = 0; r < h; ++r)
          for (std::int64_t j = 0; j < ow; ++j) {
            const T g = tmp[r * ow + j];
            for (std::int64_t k = tw.start[j]; k < tw.start[j + 1]; ++k) dX[r * w + tw.index[k]] += tw.weight[k] * g;
          }
      }
    });
  });
  return dx;
}

// adaptive_avg_pool2d_backward once checked: the kernel, recorded when dy requires grad.
// dx = Mh^T dy Mw is linear in dy; its adjoint is the pooling itself:
//   d(dy) = adaptive_avg_pool2d(G, [OH, OW])
// jvp: dx' = adaptive_avg_pool2d_backward(dy')
Tensor adaptive_backward(const Tensor& dy, const Shape& input_shape) {
  Tensor dx = resample_backward_kernel("adaptive_avg_pool2d_backward", Kind::adaptive_avg, dy, input_shape);
  if (should_record(dy))
    record(op::adaptive_avg_pool2d_backward, {dy}, dx, {},
           [size = Size2{dy.size(2), dy.size(3)}](BackwardContext& ctx) {
             ctx.accumulate(0, adaptive_avg_pool2d(ctx.grad(), size));
           });
  if (has_tangent(dy))
    record_jvp(op::adaptive_avg_pool2d_backward, dx, [&] { return adaptive_backward(tangent(dy), input_shape); });
  return dx;
}

// interpolate_backward once checked, the same way: its adjoint is interpolate itself.
//   d(dy) = interpolate(G, [OH, OW], options)
// jvp: dx' = interpolate_backward(dy')
Tensor interp_backward(const Tensor& dy, const Shape& input_shape, const InterpolateOptions& options) {
  Tensor dx = resample_backward_kernel("interpolate_backward", kind_of(options), dy, input_shape);
  if (should_record(dy))
    record(op::interpolate_backward, {dy}, dx, {},
           [size = Size2{dy.size(2), dy.size(3)}, options](BackwardContext& ctx) {
             ctx.accumulate(0, interpolate(ctx.grad(), size, options));
           });
  if (has_tangent(dy))
    record_jvp(op::interpolate_backward, dx, [&] { return interp_backward(tangent(dy), input_shape, options); });
  return dx;
}

void check_options(const char* op, const InterpolateOptions& options) {
  if (options.mode != InterpolateMode::nearest && options.mode != InterpolateMode::bilinear)
    fail<ValueError>("{}: unknown mode {}; use InterpolateMode::nearest or InterpolateMode::bilinear", op,
                     static_cast<int>(options.mode));
  if (options.mode == InterpolateMode::nearest && options.align_corners)
    fail<ValueError>(
        "{}: align_corners applies to bilinear interpolation only (PyTorch refuses it for nearest too); leave it "
        "false, or use .mode = InterpolateMode::bilinear",
        op);
}

}  // namespace

// y = Mh x Mw^T, each row of Mh averaging one window of rows (PyTorch's bins), Mw likewise
// dx = adaptive_avg_pool2d_backward(dy, x.shape) = Mh^T dy Mw
// jvp: y' = adaptive_avg_pool2d(x')   (linear)
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size) {
  kernels::check_input(op::adaptive_avg_pool2d, x);
  check_geometry("adaptive_avg_pool2d", x.shape(), output_size);
  Tensor y = resample_kernel("adaptive_avg_pool2d", Kind::adaptive_avg, x, output_size);
  if (should_record(x))
    record(op::adaptive_avg_pool2d, {x}, y, {},
           [](BackwardContext& ctx) { ctx.accumulate(0, adaptive_backward(ctx.grad(), ctx.input_shape(0))); });
  if (has_tangent(x))
    record_jvp(op::adaptive_avg_pool2d, y, [&] { return adaptive_avg_pool2d(tangent(x), output_size); });
  return y;
}

Tensor adaptive_avg_pool2d_backward(const Tensor& dy, const Shape& input_shape) {
  kernels::check_input(op::adaptive_avg_pool2d_backward, dy, "dy");
  check_grad("adaptive_avg_pool2d_backward", dy, input_shape);
  return adaptive_backward(dy, input_shape);
}

// y = Mh x Mw^T with the nearest or bilinear taps of each axis
// dx = interpolate_backward(dy, x.shape, options) = Mh^T dy Mw
// jvp: y' = interpolate(x')   (linear)
Tensor interpolate(const Tensor& x, Size2 size, const InterpolateOptions& options) {
  kernels::check_input(op::interpolate, x);
  check_options("interpolate", options);
  check_geometry("interpolate", x.shape(), size);
  Tensor y = resample_kernel("interpolate", kind_of(options), x, size);
  if (should_record(x))
    record(op::interpolate, {x}, y, {}, [options](BackwardContext& ctx) {
      ctx.accumulate(0, interp_backward(ctx.grad(), ctx.input_shape(0), options));
    });
  if (has_tangent(x)) record_jvp(op::interpolate, y, [&] { return interpolate(tangent(x), size, options); });
  return y;
}

Tensor interpolate_backward(const Tensor& dy, const Shape& input_shape, const InterpolateOptions& options) {
  kernels::check_input(op::interpolate_backward, dy, "dy");
  check_options("interpolate_backward", options);
  check_grad("interpolate_backward", dy, input_shape);
  return interp_backward(dy, input_shape, options);
}

}  // namespace tg
