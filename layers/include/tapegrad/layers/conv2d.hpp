#pragma once
// Conv2D(kernel_size): the seed's single-channel convolution layer.
//   weight ~ randn(kernel_size), bias ~ randn(1)
//   forward(x) = corr2d(x, weight) + bias
#include "tapegrad/generator.hpp"
#include "tapegrad/layers/module.hpp"

namespace tg {

class Conv2D : public Module {
 public:
  // kernel_size is [kh, kw]; the weights are drawn from `gen` (default: tg::default_generator()).
  explicit Conv2D(const Shape& kernel_size);
  Conv2D(const Shape& kernel_size, Generator& gen);

  Tensor forward(const Tensor& x) override;  // x: [h, w] -> [h - kh + 1, w - kw + 1]

  Tensor weight;  // [kh, kw]
  Tensor bias;    // [1]
};

}  // namespace tg
