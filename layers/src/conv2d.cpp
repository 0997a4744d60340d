// SPDX-License-Identifier: MIT
#include "tapegrad/layers/conv2d.hpp"

#include <fmt/format.h>

#include <cmath>

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

namespace {

void check_kernel_size(const Shape& kernel_size) {
  if (kernel_size.rank() != 2 || kernel_size[0] <= 0 || kernel_size[1] <= 0)
    fail<ShapeError>("Conv2D: kernel_size must be two positive sizes [kh, kw], got {}; pass e.g. {{3, 3}}",
                     kernel_size);
}

}  // namespace

Conv2D::Conv2D(const Shape& kernel_size) : Conv2D(kernel_size, default_generator()) {}

Conv2D::Conv2D(const Shape& kernel_size, Generator& gen) {
  check_kernel_size(kernel_size);
  weight = register_parameter("weight", randn(kernel_size, gen));
  bias = register_parameter("bias", randn({1}, gen));
}

Conv2D::Conv2D(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel, Size2 stride, Size2 padding,
               bool with_bias, Generator& gen)
    : options{stride, padding} {
  if (in_channels <= 0 || out_channels <= 0)
    fail<ValueError>("Conv2D: in_channels and out_channels must be positive, got {} and {}; pass sizes >= 1",
                     in_channels, out_channels);
  const Shape kernel_size{kernel.h, kernel.w};
  check_kernel_size(kernel_size);
  if (stride[0] <= 0 || stride[1] <= 0)
    fail<ValueError>("Conv2D: stride must be positive, got ({}, {}); use a stride >= 1 (1 for no striding)", stride[0],
                     stride[1]);
  if (padding[0] < 0 || padding[1] < 0)
    fail<ValueError>("Conv2D: padding must be non-negative, got ({}, {}); use 0 for no padding", padding[0],
                     padding[1]);
  double bound = 1.0 / std::sqrt(static_cast<double>(in_channels * kernel_size[0] * kernel_size[1]));
  auto uniform = [&](const Shape& shape) { return rand(shape, gen) * (2 * bound) - bound; };
  weight = register_parameter("weight", uniform({out_channels, in_channels, kernel_size[0], kernel_size[1]}));
  if (with_bias) bias = register_parameter("bias", uniform({out_channels}));
}

// Note: the form is told by the weight's rank: the seed's layer has a 2-D kernel, the NCHW
// layer a 4-D weight. The seed's forward stays corr2d + bias, as in the notebook.
Tensor Conv2D::forward(const Tensor& x) {
  if (weight.dim() == 4) return conv2d(x, weight, bias, options);
  return corr2d(x, weight) + bias;
}

// PyTorch's Conv2d text: "1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2)"; the
// seed's single-channel layer has only its kernel.
std::string Conv2D::extra_repr() const {
  auto pair = [](std::int64_t h, std::int64_t w) { return fmt::format("({}, {})", h, w); };
  if (weight.dim() == 2) return "kernel_size=" + pair(weight.size(0), weight.size(1));
  std::string out = fmt::format("{}, {}, kernel_size={}, stride={}", weight.size(1), weight.size(0),
                                pair(weight.size(2), weight.size(3)), pair(options.stride.h, options.stride.w));
  if (!(options.padding == Size2(0))) out += ", padding=" + pair(options.padding.h, options.padding.w);
  if (!bias.defined()) out += ", bias=False";
  return out;
}

}  // namespace tg
