#include "tapegrad/layers/module.hpp"

#include "tapegrad/error.hpp"

namespace tg {

// Parameters and children share one namespace, as attributes do in nn.Module: a second "fc"
// child would list "fc.weight" twice, and state save/load needs every dotted name unique.
void Module::check_new_name(const char* what, const std::string& name) const {
  if (name.empty() || name.find('.') != std::string::npos)
    fail<ValueError>("Module: {} name '{}' must be non-empty and contain no '.'", what, name);
  for (const auto& [existing, _] : parameters_)
    if (existing == name) fail<ValueError>("Module: a parameter named '{}' is already registered", name);
  for (const auto& [existing, _] : children_)
    if (existing == name) fail<ValueError>("Module: a child module named '{}' is already registered", name);
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_new_name("parameter", name);
  if (!t.is_leaf()) fail<ValueError>("Module: parameter '{}' must be a leaf tensor; register t.detach() instead", name);
  t.requires_grad_(true);
  if (t.name().empty()) t.set_name(name);
  parameters_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name("module", name);
  if (!module) fail<ValueError>("Module: child module '{}' is null", name);
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, p] : parameters_) out.emplace_back(prefix + name, p);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [_, p] : named_parameters()) out.push_back(p);
  return out;
}

void Module::zero_grad(bool set_to_none) {
  for (Tensor& p : parameters()) {
    if (set_to_none || !p.grad().defined())
      p.set_grad(Tensor());
    else
      p.grad().zero_();
  }
}

}  // namespace tg
