// SPDX-License-Identifier: MIT
#pragma once
// Pooling and flattening layers, thin wrappers of the ops in tapegrad/ops/pooling.hpp, as
// torch.nn.MaxPool2d, AvgPool2d and Flatten. They have no parameters.
//   MaxPool2D(2)            2x2 windows, stride 2: [N, C, H, W] -> [N, C, H / 2, W / 2]
//   AvgPool2D(3, 1, 1)      3x3 windows, stride 1, padding 1 (counted as zeros): same size
//   MaxPool2D(3, {.padding = 1})   3x3 windows, stride 3 (the default), padding 1: the
//                           options by name, as keyword arguments in PyTorch
//   Flatten()               [N, C, H, W] -> [N, C * H * W], in front of a Linear layer
#include <cstdint>
#include <optional>

#include "tapegrad/layers/module.hpp"
#include "tapegrad/ops/pooling.hpp"
#include "tapegrad/ops/resample.hpp"

namespace tg {

// A pooling layer's options by name (designated initializers), as MaxPool2D::Options and
// AvgPool2D::Options: MaxPool2D(2, {.stride = 1}), AvgPool2D({3, 2}, {.padding = {1, 0}}).
// The op's Pool2dOptions (ops/pooling.hpp) also holds the kernel size.
struct Pool2DLayerOptions {
  OptionalSize2 stride{};  // one number or two, each >= 1; default: kernel_size
  Size2 padding = 0;       // one number or two, each in [0, kernel / 2]
};

class MaxPool2D : public Module {
 public:
  using Options = Pool2DLayerOptions;

  // Square windows; the stride defaults to kernel_size (windows that do not overlap).
  explicit MaxPool2D(std::int64_t kernel_size, std::optional<std::int64_t> stride = std::nullopt,
                     std::int64_t padding = 0);
  explicit MaxPool2D(Pool2dOptions options) : options(options) {}
  // Windows of kernel_size (one number or two) with the options by name. A plain integer
  // kernel_size fits the first constructor better, so MaxPool2D(2, {2}) still means stride 2
  // through it; designated initializers fit only this one.
  MaxPool2D(Size2 kernel_size, const Options& opts);

  Tensor forward(const Tensor& x) override;  // max_pool2d(x, options)
  std::string extra_repr() const override;

  Pool2dOptions options;
};

class AvgPool2D : public Module {
 public:
  using Options = Pool2DLayerOptions;

  explicit AvgPool2D(std::int64_t kernel_size, std::optional<std::int64_t> stride = std::nullopt,
                     std::int64_t padding = 0);
  explicit AvgPool2D(Pool2dOptions options) : options(options) {}
  // Windows of kernel_size (one number or two) with the options by name. A plain integer
  // kernel_size fits the first constructor better, so AvgPool2D(2, {2}) still means stride 2
  // through it; designated initializers fit only this one.
  AvgPool2D(Size2 kernel_size, const Options& opts);

  Tensor forward(const Tensor& x) override;  // avg_pool2d(x, options)
  std::string extra_repr() const override;

  Pool2dOptions options;
};

// nn.AdaptiveAvgPool2d: averages each plane down (or up) to output_size, whatever the input's
// size; AdaptiveAvgPool2D(1) is a network's global average pooling.
class AdaptiveAvgPool2D : public Module {
 public:
  explicit AdaptiveAvgPool2D(Size2 output_size) : output_size(output_size) {}

  Tensor forward(const Tensor& x) override;  // adaptive_avg_pool2d(x, output_size)
  std::string extra_repr() const override;

  Size2 output_size;
};

class Flatten : public Module {
 public:
  explicit Flatten(int start_dim = 1, int end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}

  Tensor forward(const Tensor& x) override;  // flatten(x, start_dim, end_dim)
  std::string extra_repr() const override;

  int start_dim;
  int end_dim;
};

}  // namespace tg
