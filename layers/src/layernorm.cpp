// SPDX-License-Identifier: MIT
#include "tapegrad/layers/layernorm.hpp"

#include <fmt/format.h>

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

LayerNorm::LayerNorm(const Shape& shape, double eps_, bool elementwise_affine) : normalized_shape(shape), eps(eps_) {
  if (shape.rank() == 0 || shape.numel() <= 0)
    fail<ValueError>("LayerNorm: normalized_shape {} must have at least one dim, each >= 1 (e.g. LayerNorm(128))",
                     shape);
  if (!(eps >= 0)) fail<ValueError>("LayerNorm: eps is {}; it must be >= 0 (PyTorch's default is 1e-5)", eps);
  if (elementwise_affine) {
    weight = register_parameter("weight", ones(shape));
    bias = register_parameter("bias", zeros(shape));
  }
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, normalized_shape, weight, bias, eps); }

// PyTorch prints the shape as a tuple: "(128,), eps=1e-05, elementwise_affine=True".
std::string LayerNorm::extra_repr() const {
  std::string shape = "(";
  for (int d = 0; d < normalized_shape.rank(); ++d)
    shape += fmt::format("{}{}", normalized_shape[d],
                         normalized_shape.rank() == 1      ? ","
                         : d + 1 < normalized_shape.rank() ? ", "
                                                           : "");
  return fmt::format("{}), eps={}, elementwise_affine={}", shape, eps, weight.defined() ? "True" : "False");
}

}  // namespace tg
