// SPDX-License-Identifier: MIT
#include "tapegrad/layers/activation.hpp"

#include <fmt/format.h>

#include <utility>

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }

GELU::GELU(std::string approximate_) : approximate(std::move(approximate_)) {
  if (approximate != "none" && approximate != "tanh")
    fail<ValueError>("GELU: approximate is \"{}\"; use \"none\" (the exact erf form) or \"tanh\"", approximate);
}
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate); }
Tensor SiLU::forward(const Tensor& x) { return silu(x); }
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, negative_slope); }
Tensor Softplus::forward(const Tensor& x) { return softplus(x, beta, threshold); }

std::string GELU::extra_repr() const { return fmt::format("approximate='{}'", approximate); }
std::string LeakyReLU::extra_repr() const { return fmt::format("negative_slope={}", negative_slope); }
std::string Softplus::extra_repr() const { return fmt::format("beta={}, threshold={}", beta, threshold); }

}  // namespace tg
