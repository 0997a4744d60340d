#pragma once
// Stochastic gradient descent with PyTorch's update rule (torch.optim.SGD):
//   g = grad + weight_decay * p
//   b = g                                         on the first step
//   b = momentum * b + (1 - dampening) * g        afterwards        (if momentum != 0)
//   g = nesterov ? g + momentum * b : b                              (if momentum != 0)
//   p = p - lr * g
#include <vector>

#include "tapegrad/optim/optimizer.hpp"

namespace tg {

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0, double dampening = 0, double weight_decay = 0,
      bool nesterov = false);

  void step() override;

  double lr;  // public, so that schedules can change it between steps

 private:
  double momentum_, dampening_, weight_decay_;
  bool nesterov_;
  std::vector<Tensor> momentum_buffers_;  // one per parameter, undefined until first used
};

}  // namespace tg
