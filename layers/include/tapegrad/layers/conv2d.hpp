#pragma once
// Conv2D: a convolution layer in two forms.
//   Conv2D(kernel_size), the seed's single-channel layer:
//     weight ~ randn(kernel_size), bias ~ randn(1), forward(x) = corr2d(x, weight) + bias
//   Conv2D(in_channels, out_channels, kernel_size, stride, padding, bias), the NCHW layer
//   of torch.nn.Conv2d: forward(x) = conv2d(x, weight, bias, {stride, padding}), with
//   PyTorch's default initialisation weight, bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
//   fan_in = in_channels * kh * kw (kaiming_uniform_ with a = sqrt(5)).
#include <array>
#include <cstdint>

#include "tapegrad/generator.hpp"
#include "tapegrad/layers/module.hpp"
#include "tapegrad/ops/conv2d.hpp"

namespace tg {

class Conv2D : public Module {
 public:
  // kernel_size is [kh, kw]; the weights are drawn from `gen` (default: tg::default_generator()).
  explicit Conv2D(const Shape& kernel_size);
  Conv2D(const Shape& kernel_size, Generator& gen);
  // The NCHW layer; with bias = false it has no bias parameter.
  // kernel_size, stride and padding are one number for both sizes (5) or two ({5, 3}).
  Conv2D(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size, Size2 stride = 1, Size2 padding = 0,
         bool bias = true, Generator& gen = default_generator());

  // Single-channel form: x [h, w] -> [h - kh + 1, w - kw + 1].
  // NCHW form: x [N, C, H, W] -> [N, O, (H + 2 ph - kh) / sh + 1, (W + 2 pw - kw) / sw + 1].
  Tensor forward(const Tensor& x) override;

  Tensor weight;          // [kh, kw], or [out_channels, in_channels, kh, kw]
  Tensor bias;            // [1], or [out_channels] (undefined when bias = false)
  Conv2dOptions options;  // stride and padding of the NCHW form
};

}  // namespace tg
