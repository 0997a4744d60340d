// SPDX-License-Identifier: MIT
#include "tapegrad/optim/optimizer.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "tapegrad/error.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// Splits "state.<i>.<name>" into (i, name); false for anything else.
bool parse_state_key(const std::string& key, std::size_t& index, std::string& name) {
  const std::string prefix = "state.";
  if (key.rfind(prefix, 0) != 0) return false;
  const char* first = key.data() + prefix.size();
  const char* last = key.data() + key.size();
  auto [end, error] = std::from_chars(first, last, index);
  if (error != std::errc() || end == first || end == last || *end != '.') return false;
  name.assign(end + 1, last);
  return !name.empty();
}

}  // namespace

Optimizer::Optimizer(const char* name, std::vector<Tensor> params, double lr)
    : name_(name), params_(std::move(params)), lr_(0), state_(params_.size()) {
  if (params_.empty()) fail<ValueError>("{}: got an empty parameter list; pass model.parameters()", name_);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].defined())
      fail<ValueError>("{}: parameter {} is an undefined tensor; pass module.parameters()", name_, i);
    if (!params_[i].is_leaf() || !params_[i].requires_grad())
      fail<ValueError>(
          "{}: parameter {} (shape {}) must be a leaf that requires grad; call requires_grad_() "
          "on it, or pass module.parameters()",
          name_, i, params_[i].shape());
  }
  set_lr(lr);
}

void Optimizer::set_lr(double lr) {
  if (!(lr >= 0) || !std::isfinite(lr))
    fail<ValueError>("{}: invalid learning rate {}; it must be finite and >= 0", name_, lr);
  lr_ = lr;
}

void Optimizer::zero_grad(bool set_to_none) { tg::zero_grad(params_, set_to_none); }

Shape Optimizer::state_shape(const std::string&, const Tensor& param) const { return param.shape(); }

Dtype Optimizer::state_dtype(const std::string&, const Tensor& param) const { return param.dtype(); }

void Optimizer::check_state_value(const std::string&, const std::string&, const Tensor&) const {}

std::vector<std::pair<std::string, Tensor>> Optimizer::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> out;
  out.emplace_back("lr", from_vector({lr_}, {1}, {.dtype = kFloat64}));
  for (std::size_t i = 0; i < state_.size(); ++i)
    for (const auto& [name, t] : state_[i]) out.emplace_back(fmt::format("state.{}.{}", i, name), t.detach().clone());
  return out;
}

void Optimizer::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state) {
  // Check everything first, so that a mismatch leaves the optimizer untouched.
  const std::vector<std::string> names = state_names();
  const Tensor* lr = nullptr;
  std::map<std::string, const Tensor*> seen;
  std::vector<std::map<std::string, Tensor>> loaded(params_.size());
  for (const auto& [key, t] : state) {
    if (!seen.emplace(key, &t).second) fail<ValueError>("{}.load_state_dict: '{}' appears twice", name_, key);
    if (!t.defined()) fail<ValueError>("{}.load_state_dict: '{}' is an undefined tensor", name_, key);
    if (key == "lr") {
      if (!(t.shape() == Shape{1}))
        fail<ShapeError>("{}.load_state_dict: 'lr' has shape {}; it must be [1]", name_, t.shape());
      lr = &t;
      continue;
    }
    std::size_t i = 0;
    std::string name;
    if (!parse_state_key(key, i, name))
      fail<ValueError>("{}.load_state_dict: unknown entry '{}'; expected 'lr' or 'state.<param index>.<name>'", name_,
                       key);
    if (i >= params_.size())
      fail<ValueError>("{}.load_state_dict: '{}' is for parameter {}, but this optimizer has {} parameters", name_, key,
                       i, params_.size());
    if (std::find(names.begin(), names.end(), name) == names.end())
      fail<ValueError>("{}.load_state_dict: unknown entry '{}'; a {} parameter's state is {}", name_, key, name_,
                       fmt::join(names, ", "));
    const Shape expected = state_shape(name, params_[i]);
    if (!(t.shape() == expected))
      fail<ShapeError>("{}.load_state_dict: '{}' has shape {} in the state but {} in this optimizer", name_, key,
                       t.shape(), expected);
    check_state_value(key, name, t);
    loaded[i][name] = t.detach().to(state_dtype(name, params_[i])).clone();
  }
  if (lr == nullptr) fail<ValueError>("{}.load_state_dict: the state has no 'lr'; pass a state_dict()", name_);
  const double new_lr = lr->item<double>();
  if (!(new_lr >= 0) || !std::isfinite(new_lr))
    fail<ValueError>("{}.load_state_dict: 'lr' is {}; it must be finite and >= 0", name_, new_lr);
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    if (loaded[i].empty()) continue;
    for (const std::string& name : names)
      if (!loaded[i].count(name))
        fail<ValueError>("{}.load_state_dict: the state has entries for parameter {} but no 'state.{}.{}'", name_, i, i,
                         name);
  }
  lr_ = new_lr;
  state_ = std::move(loaded);
}

}  // namespace tg
