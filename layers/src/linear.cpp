// SPDX-License-Identifier: MIT
#include "tapegrad/layers/linear.hpp"

#include <fmt/format.h>

#include <cmath>

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool bias)
    : Linear(in_features, out_features, bias, default_generator()) {}

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool with_bias, Generator& gen) {
  if (in_features <= 0 || out_features <= 0)
    fail<ValueError>("Linear: in_features and out_features must be positive, got {} and {}; pass sizes >= 1",
                     in_features, out_features);
  double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  auto uniform = [&](const Shape& shape) { return rand(shape, gen) * (2 * bound) - bound; };
  weight = register_parameter("weight", uniform({out_features, in_features}));
  if (with_bias) bias = register_parameter("bias", uniform({out_features}));
}

Tensor Linear::forward(const Tensor& x) {
  if (x.dim() == 0 || x.size(-1) != weight.size(1))
    fail<ShapeError>("Linear: input {} must end in in_features = {} (weight {}); reshape the input to [..., {}]",
                     x.shape(), weight.size(1), weight.shape(), weight.size(1));
  Tensor y = matmul(x, weight.t());
  return bias.defined() ? y + bias : y;
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", weight.size(1), weight.size(0),
                     bias.defined() ? "True" : "False");
}

}  // namespace tg
