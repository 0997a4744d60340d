// SPDX-License-Identifier: MIT
#pragma once
// Stochastic gradient descent with PyTorch's update rule (torch.optim.SGD):
//   g = grad + weight_decay * p
//   b = g                                         on the first step
//   b = momentum * b + (1 - dampening) * g        afterwards        (if momentum != 0)
//   g = nesterov ? g + momentum * b : b                              (if momentum != 0)
//   p = p - lr * g
// State per parameter (with momentum): "momentum_buffer" b.
#include <vector>

#include "tapegrad/optim/optimizer.hpp"

namespace tg {

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0, double dampening = 0, double weight_decay = 0,
      bool nesterov = false);

  void step() override;

 protected:
  std::vector<std::string> state_names() const override;

 private:
  double momentum_, dampening_, weight_decay_;
  bool nesterov_;
};

}  // namespace tg
