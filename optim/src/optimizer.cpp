#include "tapegrad/optim/optimizer.hpp"

#include "tapegrad/error.hpp"

namespace tg {

Optimizer::Optimizer(std::vector<Tensor> params) : params_(std::move(params)) {
  if (params_.empty()) fail<ValueError>("Optimizer: got an empty parameter list; pass model.parameters()");
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].defined()) fail<ValueError>("Optimizer: parameter {} is an undefined tensor", i);
    if (!params_[i].is_leaf() || !params_[i].requires_grad())
      fail<ValueError>(
          "Optimizer: parameter {} (shape {}) must be a leaf that requires grad; call requires_grad_() "
          "on it, or pass module.parameters()",
          i, params_[i].shape());
  }
}

void Optimizer::zero_grad(bool set_to_none) {
  for (Tensor& p : params_) {
    if (set_to_none || !p.grad().defined())
      p.set_grad(Tensor());
    else
      p.grad().zero_();
  }
}

}  // namespace tg
