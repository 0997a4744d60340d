// SPDX-License-Identifier: MIT
#pragma once
// Helpers shared by the optimizer tests: small parameters, fixture slices, state lookups and
// the save/load/resume check every optimizer must pass.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "test_util.hpp"

namespace tg::test {

using State = std::vector<std::pair<std::string, Tensor>>;

// A 1-d parameter that requires grad, float32 unless `dtype` says otherwise.
inline Tensor param(const std::vector<double>& values, Dtype dtype = kFloat32) {
  return from_vector(values, {static_cast<std::int64_t>(values.size())}, {.dtype = dtype, .requires_grad = true});
}

inline Tensor vec(const std::vector<double>& values, Dtype dtype = kFloat32) {
  return from_vector(values, {static_cast<std::int64_t>(values.size())}, {.dtype = dtype});
}

// stacked[t] of a [T, ...] tensor, as a copy.
inline Tensor step_slice(const Tensor& stacked, std::int64_t t) {
  const Shape inner = stacked.shape().without(0);
  const std::vector<double> all = stacked.tolist();
  const auto begin = all.begin() + t * inner.numel();
  return from_vector(std::vector<double>(begin, begin + inner.numel()), inner, {.dtype = stacked.dtype()});
}

// The tensor saved under `name`, or an undefined tensor.
inline Tensor entry(const State& state, const std::string& name) {
  for (const auto& [key, t] : state)
    if (key == name) return t;
  return Tensor();
}

// True when a and b hold the same names, shapes, dtypes and bits.
inline bool same_state(const State& a, const State& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || a[i].second.dtype() != b[i].second.dtype() ||
        !allclose(a[i].second, b[i].second, 0, 0))
      return false;
  return true;
}

// Three parameters ([2, 3], [4], and one that never gets a gradient), the same on every call.
inline std::vector<Tensor> resume_params() {
  Generator gen(7);
  return {randn({2, 3}, gen).requires_grad_(), randn({4}, gen).requires_grad_(), randn({2}, gen).requires_grad_()};
}

// Gradients that depend on the step and on p, as a training loss's do: g = (0.5 + 0.1 t) p + c_t.
inline void set_resume_grads(const std::vector<Tensor>& params, int t) {
  Generator gen(100 + static_cast<std::uint64_t>(t));
  for (std::size_t i = 0; i + 1 < params.size(); ++i) {
    Tensor p = params[i];
    p.set_grad(p.detach() * (0.5 + 0.1 * t) + randn(p.shape(), gen));
  }
}

inline std::vector<Tensor> copies(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const Tensor& p : params) out.push_back(p.detach().clone().requires_grad_());
  return out;
}

inline bool same_params(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!allclose(a[i], b[i], 0, 0)) return false;
  return true;
}

using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(std::vector<Tensor>)>;

// 6 steps in one run must equal, bit for bit, 3 steps + state_dict() + a new optimizer +
// load_state_dict() + 3 steps; a new optimizer that skips the load must not. The lr is halved
// before step 3, as a schedule would, so the loaded "lr" matters as well as the tensors.
inline void check_resume_is_exact(const OptimizerFactory& make) {
  std::vector<Tensor> straight = resume_params();
  auto optimizer = make(straight);
  const double first_lr = optimizer->lr();
  for (int t = 0; t < 6; ++t) {
    if (t == 2) optimizer->set_lr(optimizer->lr() / 2);
    set_resume_grads(straight, t);
    optimizer->step();
  }

  std::vector<Tensor> resumed = resume_params();
  State saved;
  {
    auto first = make(resumed);
    for (int t = 0; t < 3; ++t) {
      if (t == 2) first->set_lr(first->lr() / 2);
      set_resume_grads(resumed, t);
      first->step();
    }
    saved = first->state_dict();
  }
  std::vector<Tensor> restarted = copies(resumed);
  auto second = make(resumed);
  second->load_state_dict(saved);
  CHECK(second->lr() == first_lr / 2);
  CHECK(same_state(second->state_dict(), saved));
  auto fresh = make(restarted);
  for (int t = 3; t < 6; ++t) {
    set_resume_grads(resumed, t);
    second->step();
    set_resume_grads(restarted, t);
    fresh->step();
  }
  CHECK(same_params(resumed, straight));
  CHECK(same_state(second->state_dict(), optimizer->state_dict()));
  CHECK_FALSE(same_params(restarted, straight));
}

}  // namespace tg::test
