// SPDX-License-Identifier: MIT
#pragma once
// Elementwise activations as modules, for use inside Sequential: ReLU, Sigmoid, Tanh, GELU,
// SiLU, LeakyReLU, Softplus. They have no parameters; forward(x) is the op of the same name
// with the module's settings (PyTorch's defaults).
#include <string>

#include "tapegrad/layers/module.hpp"

namespace tg {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;  // max(x, 0)
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override;  // 1 / (1 + e^-x)
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override;  // tanh(x)
};

// x Phi(x); approximate = "tanh" for the tanh approximation, as nn.GELU(approximate=...).
class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  std::string approximate;
};

class SiLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;  // x sigmoid(x)
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope(negative_slope) {}
  Tensor forward(const Tensor& x) override;  // x if x > 0, else negative_slope x
  std::string extra_repr() const override;
  double negative_slope;
};

class Softplus : public Module {
 public:
  explicit Softplus(double beta = 1, double threshold = 20) : beta(beta), threshold(threshold) {}
  Tensor forward(const Tensor& x) override;  // ln(1 + e^(beta x)) / beta
  std::string extra_repr() const override;
  double beta, threshold;
};

}  // namespace tg
