// SPDX-License-Identifier: MIT
#pragma once
// LayerNorm(normalized_shape): layer normalisation over the last dims, as nn.LayerNorm.
// forward(x) = layer_norm(x, normalized_shape, weight, bias, eps); weight starts at ones and
// bias at zeros, both of normalized_shape (absent with elementwise_affine = false).
#include <cstdint>
#include <initializer_list>

#include "tapegrad/layers/module.hpp"

namespace tg {

class LayerNorm : public Module {
 public:
  // LayerNorm(128) for x [..., 128]; LayerNorm({4, 8}) for x [..., 4, 8].
  explicit LayerNorm(const Shape& normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  explicit LayerNorm(std::int64_t normalized_size, double eps = 1e-5, bool elementwise_affine = true)
      : LayerNorm(Shape{normalized_size}, eps, elementwise_affine) {}
  // A braced list is a shape: without this, LayerNorm({2, 3}) could also read as LayerNorm(2, 3.0).
  LayerNorm(std::initializer_list<std::int64_t> normalized_shape, double eps = 1e-5, bool elementwise_affine = true)
      : LayerNorm(Shape(normalized_shape), eps, elementwise_affine) {}

  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Shape normalized_shape;
  double eps;
  Tensor weight;  // normalized_shape, ones at first (undefined without elementwise_affine)
  Tensor bias;    // normalized_shape, zeros at first (undefined without elementwise_affine)
};

}  // namespace tg
