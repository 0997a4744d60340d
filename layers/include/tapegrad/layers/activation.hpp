#pragma once
// Elementwise activations as modules, for use inside Sequential: ReLU, Sigmoid, Tanh.
// They have no parameters; forward(x) is tg::relu(x), tg::sigmoid(x), tg::tanh(x).
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

}  // namespace tg
