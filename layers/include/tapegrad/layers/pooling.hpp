#pragma once
// Pooling and flattening layers, thin wrappers of the ops in tapegrad/ops/pooling.hpp, as
// torch.nn.MaxPool2d, AvgPool2d and Flatten. They have no parameters.
//   MaxPool2D(2)            2x2 windows, stride 2: [N, C, H, W] -> [N, C, H / 2, W / 2]
//   AvgPool2D(3, 1, 1)      3x3 windows, stride 1, padding 1 (counted as zeros): same size
//   Flatten()               [N, C, H, W] -> [N, C * H * W], in front of a Linear layer
#include <cstdint>
#include <optional>

#include "tapegrad/layers/module.hpp"
#include "tapegrad/ops/pooling.hpp"

namespace tg {

class MaxPool2D : public Module {
 public:
  // Square windows; the stride defaults to kernel_size (windows that do not overlap).
  explicit MaxPool2D(std::int64_t kernel_size, std::optional<std::int64_t> stride = std::nullopt,
                     std::int64_t padding = 0);
  explicit MaxPool2D(Pool2dOptions options) : options(options) {}

  Tensor forward(const Tensor& x) override;  // max_pool2d(x, options)

  Pool2dOptions options;
};

class AvgPool2D : public Module {
 public:
  explicit AvgPool2D(std::int64_t kernel_size, std::optional<std::int64_t> stride = std::nullopt,
                     std::int64_t padding = 0);
  explicit AvgPool2D(Pool2dOptions options) : options(options) {}

  Tensor forward(const Tensor& x) override;  // avg_pool2d(x, options)

  Pool2dOptions options;
};

class Flatten : public Module {
 public:
  explicit Flatten(int start_dim = 1, int end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}

  Tensor forward(const Tensor& x) override;  // flatten(x, start_dim, end_dim)

  int start_dim;
  int end_dim;
};

}  // namespace tg
