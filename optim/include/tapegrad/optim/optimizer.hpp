// SPDX-License-Identifier: MIT
#pragma once
// Optimizer: the base of every optimizer. It holds the parameters it updates, the learning
// rate (which schedules change between steps) and each parameter's state (momentum buffers,
// moment estimates), which state_dict()/load_state_dict() save and restore for checkpoints.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

class Optimizer {
 public:
  // `name` ("SGD", "Adam") prefixes every error message.
  Optimizer(const char* name, std::vector<Tensor> params, double lr);
  virtual ~Optimizer() = default;

  // Updates every parameter that has a gradient, under NoGradGuard.
  virtual void step() = 0;
  // Clears the parameters' gradients (set_to_none = true, as PyTorch 2) or zeros them.
  void zero_grad(bool set_to_none = true);
  const std::vector<Tensor>& params() const { return params_; }

  double lr() const { return lr_; }
  // Throws ValueError unless lr is finite and >= 0. Takes effect at the next step().
  void set_lr(double lr);

  // The state a resumed run needs: "lr" (float64, [1]) and, for every parameter i that has
  // been stepped, "state.<i>.<name>" for each of its state tensors, e.g. "state.0.exp_avg".
  // Note: the tensors are copies, so a saved state does not change as training goes on
  // (PyTorch's state_dict() returns live references, an easy way to save the wrong step).
  virtual std::vector<std::pair<std::string, Tensor>> state_dict() const;
  // Restores a state_dict() of an optimizer of the same kind over parameters of the same
  // shapes. Every entry is checked first: an unknown, duplicated or incomplete entry is a
  // ValueError, a wrong shape a ShapeError, each naming the entry; either leaves this
  // optimizer unchanged. Parameters without entries start afresh at their next step.
  virtual void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state);

 protected:
  // The names of the state tensors of one stepped parameter, e.g. {"momentum_buffer"}.
  virtual std::vector<std::string> state_names() const = 0;
  // The shape of state tensor `name` of parameter `param`: the parameter's own by default.
  virtual Shape state_shape(const std::string& name, const Tensor& param) const;
  // The dtype of state tensor `name` of parameter `param`: the parameter's own by default.
  virtual Dtype state_dtype(const std::string& name, const Tensor& param) const;
  // Throws ValueError, naming `key`, if the value of a loaded state tensor is invalid.
  virtual void check_state_value(const std::string& key, const std::string& name, const Tensor& t) const;

  const char* name_;
  std::vector<Tensor> params_;
  double lr_;
  // state_[i] maps a state name to its tensor for parameter i, as PyTorch's optimizer.state[p];
  // empty until the parameter's first step.
  std::vector<std::map<std::string, Tensor>> state_;
};

}  // namespace tg
