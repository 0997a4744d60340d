// SPDX-License-Identifier: MIT
#include "tapegrad/layers/pooling.hpp"

#include <fmt/format.h>

#include "tapegrad/error.hpp"

namespace tg {

namespace {

// Windows of `kernel_size` moved by `stride` (default: kernel_size), `padding` on every side.
// Note: checked here, when the layer is built, and not only by the op at its first forward():
// a bad layer then fails where it is written, not inside a training loop.
Pool2dOptions windows(const char* layer, Size2 kernel_size, OptionalSize2 stride, Size2 padding) {
  Size2 s = stride.value_or(kernel_size);
  for (std::size_t d = 0; d < 2; ++d) {
    if (kernel_size[d] < 1)
      fail<ValueError>("{}: kernel_size must be >= 1, got {}; pass a window size such as 2", layer, kernel_size[d]);
    if (s[d] < 1) fail<ValueError>("{}: stride must be >= 1, got {}; leave it out to use kernel_size", layer, s[d]);
    if (padding[d] < 0 || padding[d] > kernel_size[d] / 2)
      fail<ValueError>("{}: padding {} must lie in [0, kernel_size / 2] = [0, {}]; use a smaller padding", layer,
                       padding[d], kernel_size[d] / 2);
  }
  return {.kernel_size = kernel_size, .stride = s, .padding = padding};
}

Pool2dOptions square_windows(const char* layer, std::int64_t kernel_size, std::optional<std::int64_t> stride,
                             std::int64_t padding) {
  return windows(layer, kernel_size, stride ? OptionalSize2(*stride) : OptionalSize2(), padding);
}

}  // namespace

MaxPool2D::MaxPool2D(std::int64_t kernel_size, std::optional<std::int64_t> stride, std::int64_t padding)
    : options(square_windows("MaxPool2D", kernel_size, stride, padding)) {}

MaxPool2D::MaxPool2D(Size2 kernel_size, const Options& opts)
    : options(windows("MaxPool2D", kernel_size, opts.stride, opts.padding)) {}

Tensor MaxPool2D::forward(const Tensor& x) { return max_pool2d(x, options); }

AvgPool2D::AvgPool2D(std::int64_t kernel_size, std::optional<std::int64_t> stride, std::int64_t padding)
    : options(square_windows("AvgPool2D", kernel_size, stride, padding)) {}

AvgPool2D::AvgPool2D(Size2 kernel_size, const Options& opts)
    : options(windows("AvgPool2D", kernel_size, opts.stride, opts.padding)) {}

Tensor AvgPool2D::forward(const Tensor& x) { return avg_pool2d(x, options); }

Tensor AdaptiveAvgPool2D::forward(const Tensor& x) { return adaptive_avg_pool2d(x, output_size); }

Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_dim, end_dim); }

namespace {

// A size as PyTorch prints what it was given: 2 for one number, (2, 1) for two.
std::string size_text(const Size2& s) {
  return s.h == s.w ? fmt::format("{}", s.h) : fmt::format("({}, {})", s.h, s.w);
}
std::string pool_text(const Pool2dOptions& o) {
  const Size2 stride = o.stride ? *o.stride : o.kernel_size;
  return fmt::format("kernel_size={}, stride={}, padding={}", size_text(o.kernel_size), size_text(stride),
                     size_text(o.padding));
}

}  // namespace

std::string MaxPool2D::extra_repr() const { return pool_text(options) + ", dilation=1, ceil_mode=False"; }
std::string AvgPool2D::extra_repr() const { return pool_text(options); }
std::string AdaptiveAvgPool2D::extra_repr() const { return "output_size=" + size_text(output_size); }
std::string Flatten::extra_repr() const { return fmt::format("start_dim={}, end_dim={}", start_dim, end_dim); }

}  // namespace tg
