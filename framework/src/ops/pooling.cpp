// Pooling (max and average over 2-D windows of NCHW tensors) and flatten.
//
// Every op here sees x as `planes` = N * C independent [H, W] images, and window (i, j) of a
// plane as the input rows [i sh - ph, i sh - ph + kh) and columns [j sw - pw, j sw - pw + kw),
// clipped to the image. With padding <= kernel / 2 and ceil_mode = false, every clipped
// window holds at least one input element, so a max over -inf padding is a max over the
// clipped window, and an average that counts the padding divides by kh * kw.
#include <cmath>
#include <memory>
#include <vector>

#include "ops/kernels.hpp"
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
PoolGeometry pool_geometry(const char* op, const Tensor& x, const Pool2dOptions& options) {
  if (x.dim() != 4)
    fail<ShapeError>("{}: input must be 4-D [N, C, H, W], got shape {}; reshape a single image to [1, C, H, W]", op,
                     x.shape());
  auto [kh, kw] = options.kernel_size;
  auto [sh, sw] = options.stride.value_or(options.kernel_size);
  auto [ph, pw] = options.padding;
  if (kh < 1 || kw < 1) fail<ValueError>("{}: kernel_size must be positive, got [{}, {}]", op, kh, kw);
  if (sh < 1 || sw < 1) fail<ValueError>("{}: stride must be positive, got [{}, {}]", op, sh, sw);
  if (ph < 0 || pw < 0) fail<ValueError>("{}: padding must be non-negative, got [{}, {}]", op, ph, pw);
  if (ph > kh / 2 || pw > kw / 2)
    fail<ValueError>("{}: padding [{}, {}] must be at most half of kernel_size [{}, {}] (rounded down), as in PyTorch",
                     op, ph, pw, kh, kw);
  std::int64_t h = x.size(2), w = x.size(3);
  if (h < 1 || w < 1) fail<ShapeError>("{}: input {} has an empty image; H and W must be at least 1", op, x.shape());
  if (h + 2 * ph < kh || w + 2 * pw < kw)
    fail<ShapeError>(
        "{}: kernel_size [{}, {}] is larger than the padded input [{}, {}] (input {}, padding [{}, {}]); "
        "use a smaller kernel or more padding",
        op, kh, kw, h + 2 * ph, w + 2 * pw, x.shape(), ph, pw);
  return {x.size(0) * x.size(1), h, w, kh, kw, sh, sw, ph, pw, (h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1};
}

Shape output_shape(const Tensor& x, const PoolGeometry& g) { return {x.size(0), x.size(1), g.oh, g.ow}; }

// Calls f(out, h0, h1, w0, w1) for every output element `out` (an offset into y) with the
// rows [h0, h1) and columns [w0, w1) of its window clipped to the image; offsets into x of
// that window are plane * h * w + row * w + col, with `plane` = out / (oh * ow).
template <class F>
void for_each_window(const PoolGeometry& g, F f) {
  std::int64_t out = 0;
  for (std::int64_t plane = 0; plane < g.planes; ++plane)
    for (std::int64_t i = 0; i < g.oh; ++i) {
      std::int64_t top = i * g.sh - g.ph;
      std::int64_t h0 = std::max<std::int64_t>(top, 0), h1 = std::min(top + g.kh, g.h);
      for (std::int64_t j = 0; j < g.ow; ++j, ++out) {
        std::int64_t left = j * g.sw - g.pw;
        f(out, plane * g.h * g.w, h0, h1, std::max<std::int64_t>(left, 0), std::min(left + g.kw, g.w));
      }
    }
}

}  // namespace

// y[o] = max_{p in window(o)} x[p],  argmax[o] = the first p (row-major) that attains it
// dx[p] = sum_{o : argmax[o] = p} dy[o]
// Note: the gradient of a max is a subgradient where the window has ties; like PyTorch we
// send it all to the first maximum, so that results agree with PyTorch's number for number.
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options) {
  PoolGeometry g = pool_geometry("max_pool2d", x, options);
  Tensor y = empty(output_shape(x, g), {.dtype = x.dtype()});
  auto argmax = std::make_shared<std::vector<std::int64_t>>(static_cast<std::size_t>(y.numel()));  // offsets in x
  dispatch(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_window(g, [&](std::int64_t out, std::int64_t base, std::int64_t h0, std::int64_t h1, std::int64_t w0,
                           std::int64_t w1) {
      std::int64_t best = base + h0 * g.w + w0;
      for (std::int64_t r = h0; r < h1; ++r)
        for (std::int64_t c = w0; c < w1; ++c) {
          std::int64_t p = base + r * g.w + c;
          if (px[p] > px[best] || std::isnan(px[p])) best = p;  // strict >: ties keep the first
        }
      py[out] = px[best];
      (*argmax)[static_cast<std::size_t>(out)] = best;
    });
  });
  if (should_record(x)) {
    Shape x_shape = x.shape();
    record("max_pool2d", {x}, y, [argmax, x_shape](const Tensor& dy, Gradients& in) {
      Tensor dx = zeros(x_shape, {.dtype = dy.dtype()});
      dispatch(dy.dtype(), [&]<class T>() {
        const T* pdy = dy.data<T>();
        T* pdx = dx.data<T>();
        for (std::size_t o = 0; o < argmax->size(); ++o) pdx[(*argmax)[o]] += pdy[o];
      });
      in.accumulate(0, std::move(dx));
    });
  }
  return y;
}

// y[o] = (1 / (kh kw)) sum_{p in window(o)} x[p]   (padding contributes zeros)
// dx[p] = sum_{o : p in window(o)} dy[o] / (kh kw)
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options) {
  PoolGeometry g = pool_geometry("avg_pool2d", x, options);
  Tensor y = empty(output_shape(x, g), {.dtype = x.dtype()});
  double area = static_cast<double>(g.kh * g.kw);
  dispatch(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_window(g, [&](std::int64_t out, std::int64_t base, std::int64_t h0, std::int64_t h1, std::int64_t w0,
                           std::int64_t w1) {
      T total = 0;
      for (std::int64_t r = h0; r < h1; ++r)
        for (std::int64_t c = w0; c < w1; ++c) total += px[base + r * g.w + c];
      py[out] = total / static_cast<T>(area);
    });
  });
  if (should_record(x)) {
    Shape x_shape = x.shape();
    record("avg_pool2d", {x}, y, [g, x_shape, area](const Tensor& dy, Gradients& in) {
      Tensor dx = zeros(x_shape, {.dtype = dy.dtype()});
      dispatch(dy.dtype(), [&]<class T>() {
        const T* pdy = dy.data<T>();
        T* pdx = dx.data<T>();
        for_each_window(g, [&](std::int64_t out, std::int64_t base, std::int64_t h0, std::int64_t h1, std::int64_t w0,
                               std::int64_t w1) {
          T share = pdy[out] / static_cast<T>(area);
          for (std::int64_t r = h0; r < h1; ++r)
            for (std::int64_t c = w0; c < w1; ++c) pdx[base + r * g.w + c] += share;
        });
      });
      in.accumulate(0, std::move(dx));
    });
  }
  return y;
}

// y = x viewed with dims start..end merged: [d0, ..., d_start * ... * d_end, ..., d_last]
// dx = dy viewed as x's shape (reshape records its own backward)
Tensor flatten(const Tensor& x, int start_dim, int end_dim) {
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
