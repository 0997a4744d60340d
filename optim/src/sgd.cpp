// SPDX-License-Identifier: MIT
#include "tapegrad/optim/sgd.hpp"

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, double dampening, double weight_decay, bool nesterov)
    : Optimizer("SGD", std::move(params), lr),
      momentum_(momentum),
      dampening_(dampening),
      weight_decay_(weight_decay),
      nesterov_(nesterov) {
  if (!(momentum >= 0)) fail<ValueError>("SGD: invalid momentum {}; it must be >= 0 (0 for plain SGD)", momentum);
  if (!(weight_decay >= 0))
    fail<ValueError>("SGD: invalid weight_decay {}; it must be >= 0 (0 for none)", weight_decay);
  if (nesterov && (momentum <= 0 || dampening != 0))
    fail<ValueError>("SGD: nesterov momentum requires momentum > 0 and dampening = 0, got momentum {} and dampening {}",
                     momentum, dampening);
}

std::vector<std::string> SGD::state_names() const {
  if (momentum_ == 0) return {};
  return {"momentum_buffer"};
}

void SGD::step() {
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (weight_decay_ != 0) g = g + weight_decay_ * p;
    if (momentum_ != 0) {
      auto [it, first] = state_[i].try_emplace("momentum_buffer");
      Tensor& buf = it->second;
      if (first)
        buf = g.clone();
      else
        buf.mul_(momentum_).add_(g, 1 - dampening_);
      g = nesterov_ ? g + momentum_ * buf : buf;
    }
    p.add_(g, -lr_);
  }
}

}  // namespace tg
