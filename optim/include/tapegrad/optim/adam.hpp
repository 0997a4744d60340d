// SPDX-License-Identifier: MIT
#pragma once
// Adam and AdamW with PyTorch's update rules (torch.optim.Adam, torch.optim.AdamW). At the
// t-th step of a parameter (t = 1, 2, ...; m = v = v_max = 0 before the first):
//   p = p - lr * weight_decay * p                  AdamW only: decoupled weight decay
//   g = grad + weight_decay * p                    Adam only: an L2 penalty in the gradient
//   m = beta1 * m + (1 - beta1) * g                running mean of g
//   v = beta2 * v + (1 - beta2) * g^2              running mean of g^2
//   v_max = max(v_max, v)                          amsgrad only: v_max replaces v below
//   m_hat = m / (1 - beta1^t)                      bias corrections: m and v start at 0
//   v_hat = v / (1 - beta2^t)
//   p = p - lr * m_hat / (sqrt(v_hat) + eps)       eps is added after the square root
// State per parameter: "step" t (float64, [1]), "exp_avg" m, "exp_avg_sq" v and, with
// amsgrad, "max_exp_avg_sq" v_max.
#include <array>
#include <string>
#include <vector>

#include "tapegrad/optim/optimizer.hpp"

namespace tg {

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, double lr = 1e-3, std::array<double, 2> betas = {0.9, 0.999}, double eps = 1e-8,
       double weight_decay = 0, bool amsgrad = false);

  void step() override;

 protected:
  // AdamW's constructor: the same update with decoupled (AdamW) or L2 (Adam) weight decay.
  Adam(const char* name, bool decoupled_weight_decay, std::vector<Tensor> params, double lr,
       std::array<double, 2> betas, double eps, double weight_decay, bool amsgrad);

  std::vector<std::string> state_names() const override;
  Shape state_shape(const std::string& name, const Tensor& param) const override;
  Dtype state_dtype(const std::string& name, const Tensor& param) const override;
  void check_state_value(const std::string& key, const std::string& name, const Tensor& t) const override;

 private:
  std::array<double, 2> betas_;
  double eps_, weight_decay_;
  bool amsgrad_, decoupled_weight_decay_;
};

// Adam with decoupled weight decay (Loshchilov and Hutter): the decay shrinks p directly
// instead of passing through m and v, so it is not rescaled by 1 / sqrt(v_hat).
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, double lr = 1e-3, std::array<double, 2> betas = {0.9, 0.999}, double eps = 1e-8,
        double weight_decay = 1e-2, bool amsgrad = false);
};

}  // namespace tg
