#pragma once
// Optimizer: the base of every optimizer; it holds the parameters it updates.
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

class Optimizer {
 public:
  explicit Optimizer(std::vector<Tensor> params);
  virtual ~Optimizer() = default;

  // Updates every parameter that has a gradient, under NoGradGuard.
  virtual void step() = 0;
  // Clears the parameters' gradients (set_to_none = true, as PyTorch 2) or zeros them.
  void zero_grad(bool set_to_none = true);
  const std::vector<Tensor>& params() const { return params_; }

 protected:
  std::vector<Tensor> params_;
};

}  // namespace tg
