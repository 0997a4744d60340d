// SPDX-License-Identifier: MIT
#include "tapegrad/optim/adam.hpp"

#include <algorithm>
#include <cmath>

#include "tapegrad/error.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

Adam::Adam(std::vector<Tensor> params, double lr, std::array<double, 2> betas, double eps, double weight_decay,
           bool amsgrad)
    : Adam("Adam", false, std::move(params), lr, betas, eps, weight_decay, amsgrad) {}

AdamW::AdamW(std::vector<Tensor> params, double lr, std::array<double, 2> betas, double eps, double weight_decay,
             bool amsgrad)
    : Adam("AdamW", true, std::move(params), lr, betas, eps, weight_decay, amsgrad) {}

Adam::Adam(const char* name, bool decoupled_weight_decay, std::vector<Tensor> params, double lr,
           std::array<double, 2> betas, double eps, double weight_decay, bool amsgrad)
    : Optimizer(name, std::move(params), lr),
      betas_(betas),
      eps_(eps),
      weight_decay_(weight_decay),
      amsgrad_(amsgrad),
      decoupled_weight_decay_(decoupled_weight_decay) {
  for (int i = 0; i < 2; ++i)
    if (!(betas[i] >= 0 && betas[i] < 1))
      fail<ValueError>("{}: invalid beta {} at index {}; betas must be in [0, 1)", name, betas[i], i);
  if (!(eps >= 0) || !std::isfinite(eps)) fail<ValueError>("{}: invalid eps {}; it must be finite and >= 0", name, eps);
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay))
    fail<ValueError>("{}: invalid weight_decay {}; it must be finite and >= 0", name, weight_decay);
}

std::vector<std::string> Adam::state_names() const {
  if (amsgrad_) return {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"step", "exp_avg", "exp_avg_sq"};
}

Shape Adam::state_shape(const std::string& name, const Tensor& param) const {
  return name == "step" ? Shape{1} : param.shape();
}

Dtype Adam::state_dtype(const std::string& name, const Tensor& param) const {
  return name == "step" ? kFloat64 : param.dtype();
}

void Adam::check_state_value(const std::string& key, const std::string& name, const Tensor& t) const {
  if (name != "step") return;
  const double step = t.item<double>();
  if (!(step >= 1) || !std::isfinite(step) || step != std::floor(step))
    fail<ValueError>("{}.load_state_dict: '{}' is {}; a step count must be a whole number >= 1", name_, key, step);
}

void Adam::step() {
  NoGradGuard no_grad;
  const double beta1 = betas_[0], beta2 = betas_[1];  // plain variables: clang 14 cannot capture structured bindings
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    auto& state = state_[i];
    if (state.empty()) {
      state["step"] = zeros({1}, {.dtype = kFloat64});
      for (const std::string& name : state_names())
        if (name != "step") state[name] = zeros_like(p);
    }
    const double t = state["step"].data<double>()[0] += 1;
    const double step_size = lr_ / (1 - std::pow(beta1, t));
    const double bias_correction2_sqrt = std::sqrt(1 - std::pow(beta2, t));
    const Tensor m = state["exp_avg"], v = state["exp_avg_sq"];
    const Tensor v_max = amsgrad_ ? state["max_exp_avg_sq"] : v;
    // Note: one fused loop, in p's dtype, with each product in the order of PyTorch's
    // single-tensor kernels (mul_, add_, addcmul_, sqrt, div, add_, addcdiv_), so float32
    // trajectories agree with torch's to rounding.
    dispatch_floating("Adam", p.dtype(), [&]<class T>() {
      T* pp = p.data<T>();
      const T* pg = grad.data<T>();
      T *pm = m.data<T>(), *pv = v.data<T>(), *pv_max = v_max.data<T>();
      const T decay = static_cast<T>(weight_decay_), shrink = static_cast<T>(1 - lr_ * weight_decay_);
      const T b1 = static_cast<T>(beta1), one_minus_b1 = static_cast<T>(1 - beta1);
      const T b2 = static_cast<T>(beta2), one_minus_b2 = static_cast<T>(1 - beta2);
      const T bc2_sqrt = static_cast<T>(bias_correction2_sqrt), eps = static_cast<T>(eps_);
      const T minus_step_size = static_cast<T>(-step_size);
      const bool decay_p = weight_decay_ != 0 && decoupled_weight_decay_;
      const bool decay_g = weight_decay_ != 0 && !decoupled_weight_decay_;
      for (std::int64_t k = 0, n = p.numel(); k < n; ++k) {
        if (decay_p) pp[k] = pp[k] * shrink;
        const T g = decay_g ? pg[k] + decay * pp[k] : pg[k];
        pm[k] = pm[k] * b1 + one_minus_b1 * g;
        pv[k] = pv[k] * b2 + one_minus_b2 * g * g;
        if (amsgrad_) pv_max[k] = std::max(pv_max[k], pv[k]);
        const T denom = std::sqrt(pv_max[k]) / bc2_sqrt + eps;
        pp[k] = pp[k] + minus_step_size * pm[k] / denom;
      }
    });
    p.bump_version();  // written through data<T>(): backward must see that p changed
  }
}

}  // namespace tg
