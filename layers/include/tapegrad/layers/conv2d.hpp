// SPDX-License-Identifier: MIT
#pragma once
// Conv2D: a convolution layer in two forms.
//   Conv2D(kernel_size), the seed's single-channel layer:
//     weight ~ randn(kernel_size), bias ~ randn(1), forward(x) = corr2d(x, weight) + bias
//   Conv2D(in_channels, out_channels, kernel_size, stride, padding, bias), the NCHW layer
//   of torch.nn.Conv2d: forward(x) = conv2d(x, weight, bias, {stride, padding}), with
//   PyTorch's default initialisation weight, bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
//   fan_in = in_channels * kh * kw (kaiming_uniform_ with a = sqrt(5)).
// The NCHW layer's options are given positionally or by name, as PyTorch's keyword
// arguments:
//   tg::Conv2D(1, 16, 3, 2, 1)                              stride 2, padding 1
//   tg::Conv2D(1, 16, 3, {.stride = 2, .padding = 1})       the same, by name
//   tg::Conv2D(1, 16, {5, 3}, {.padding = {2, 1}, .bias = false})
#include <array>
#include <cstdint>

#include "tapegrad/generator.hpp"
#include "tapegrad/layers/module.hpp"
#include "tapegrad/ops/conv2d.hpp"

namespace tg {

// The NCHW Conv2D's options by name (designated initializers), as Conv2D::Options. Every
// field has PyTorch's default. Not to be confused with Conv2dOptions, the op's stride and
// padding (ops/conv2d.hpp), which the layer keeps as `options`.
struct Conv2DLayerOptions {
  Size2 stride = 1;   // one number for both sizes (2) or two ({2, 1}); each >= 1
  Size2 padding = 0;  // zeros on both sides, one number or two; each >= 0
  bool bias = true;   // false: no bias parameter
};

class Conv2D : public Module {
 public:
  using Options = Conv2DLayerOptions;

  // kernel_size is [kh, kw]; the weights are drawn from `gen` (default: tg::default_generator()).
  explicit Conv2D(const Shape& kernel_size);
  Conv2D(const Shape& kernel_size, Generator& gen);
  // The NCHW layer; with bias = false it has no bias parameter.
  // kernel_size, stride and padding are one number for both sizes (5) or two ({5, 3}).
  Conv2D(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size, Size2 stride = 1, Size2 padding = 0,
         bool bias = true, Generator& gen = default_generator());
  // The same layer with the options by name: Conv2D(1, 16, 3, {.stride = 2, .padding = 1}).
  // Note: a template only for overload resolution. A positional brace list such as
  // Conv2D(1, 2, 3, {2, 1}) fits both this constructor (as Options{2, 1}) and the one above
  // (as stride {2, 1}); as a template this one loses the tie, so the brace list keeps meaning
  // the stride. Designated initializers fit only this one. (Followed by a generator, an
  // unnamed brace list fits only this one too and is read as Options: name the fields.)
  // The options go by const reference, as conv2d's do (see the note in ops/conv2d.hpp).
  template <class = void>
  Conv2D(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size, const Options& opts,
         Generator& gen = default_generator())
      : Conv2D(in_channels, out_channels, kernel_size, opts.stride, opts.padding, opts.bias, gen) {}

  // Single-channel form: x [h, w] -> [h - kh + 1, w - kw + 1].
  // NCHW form: x [N, C, H, W] -> [N, O, (H + 2 ph - kh) / sh + 1, (W + 2 pw - kw) / sw + 1].
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Tensor weight;          // [kh, kw], or [out_channels, in_channels, kh, kw]
  Tensor bias;            // [1], or [out_channels] (undefined when bias = false)
  Conv2dOptions options;  // stride and padding of the NCHW form
};

}  // namespace tg
