// SPDX-License-Identifier: MIT
#include "tapegrad/layers/module.hpp"

#include <cxxabi.h>
#include <algorithm>
#include <map>

#include <cstdlib>
#include <memory>
#include <ostream>
#include <typeinfo>

#include "tapegrad/error.hpp"
#include "tapegrad/observer.hpp"

namespace tg {

// Parameters and children share one namespace, as attributes do in nn.Module: a second "fc"
// child would list "fc.weight" twice, and state save/load needs every dotted name unique.
void Module::check_new_name(const char* what, const std::string& name) const {
  if (name.empty() || name.find('.') != std::string::npos)
    fail<ValueError>("Module: {} name '{}' must be non-empty and contain no '.'", what, name);
  for (const auto& [existing, _] : parameters_)
    if (existing == name)
      fail<ValueError>("Module: a parameter named '{}' is already registered; choose another name", name);
  for (const auto& [existing, _] : buffers_)
    if (existing == name)
      fail<ValueError>("Module: a buffer named '{}' is already registered; choose another name", name);
  for (const auto& [existing, _] : children_)
    if (existing == name)
      fail<ValueError>("Module: a child module named '{}' is already registered; choose another name", name);
}

Tensor Module::forward(const Tensor&) {
  fail<ValueError>(
      "Module: {} has no single-tensor forward(x); call it with its own arguments, module(...), not through "
      "Sequential or a Module&",
      type_name());
}

Tensor Module::operator()(const Tensor& x) { return call(*this, x); }

bool Module::run_pre_hooks(TensorList& inputs) {
  bool replaced = false;
  for (const auto& [handle, hook] : pre_hooks_) {
    std::optional<TensorList> r = hook(*this, inputs);
    if (!r) continue;
    if (r->size() != inputs.size())
      fail<ValueError>(
          "Module: a forward pre-hook of {} returned {} tensors for its {} inputs; return a list of the same "
          "length, or std::nullopt to change nothing",
          type_name(), r->size(), inputs.size());
    inputs = std::move(*r);
    replaced = true;
  }
  return replaced;
}

bool Module::run_forward_hooks(const TensorList& inputs, TensorList& outputs) {
  bool replaced = false;
  for (const auto& [handle, hook] : forward_hooks_) {
    std::optional<TensorList> r = hook(*this, inputs, outputs);
    if (!r) continue;
    if (r->size() != outputs.size())
      fail<ValueError>(
          "Module: a forward hook of {} returned {} tensors for its {} outputs; return a list of the same length, "
          "or std::nullopt to change nothing",
          type_name(), r->size(), outputs.size());
    outputs = std::move(*r);
    replaced = true;
  }
  return replaced;
}

int Module::register_forward_pre_hook(ForwardPreHook hook) {
  if (!hook)
    fail<ValueError>(
        "register_forward_pre_hook: the hook is empty; pass a function std::optional<TensorList>(Module&, "
        "inputs)");
  pre_hooks_.emplace_back(next_hook_, std::move(hook));
  return next_hook_++;
}

int Module::register_forward_hook(ForwardHook hook) {
  if (!hook)
    fail<ValueError>(
        "register_forward_hook: the hook is empty; pass a function std::optional<TensorList>(Module&, inputs, "
        "outputs)");
  forward_hooks_.emplace_back(next_hook_, std::move(hook));
  return next_hook_++;
}

void Module::remove_hook(int handle) {
  auto drop = [&](auto& hooks) {
    auto it = std::find_if(hooks.begin(), hooks.end(), [&](const auto& h) { return h.first == handle; });
    if (it == hooks.end()) return false;
    hooks.erase(it);
    return true;
  };
  if (!drop(pre_hooks_) && !drop(forward_hooks_))
    fail<ValueError>(
        "Module::remove_hook: no hook with handle {} on this module (it has {} forward pre-hooks and {} "
        "forward hooks); use the value register_forward_(pre_)hook returned, once",
        handle, pre_hooks_.size(), forward_hooks_.size());
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name("buffer", name);
  if (!t.defined() || t.requires_grad())
    fail<ValueError>("Module: buffer '{}' must be a defined tensor that does not require grad", name);
  buffers_.emplace_back(name, t);
  return t;
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
  module->scope_name_ = name;
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, int select, std::vector<std::pair<std::string, Tensor>>& out) const {
  if (select & kParameters)
    for (const auto& [name, p] : parameters_) out.emplace_back(prefix + name, p);
  if (select & kBuffers)
    for (const auto& [name, b] : buffers_) out.emplace_back(prefix + name, b);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", select, out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", kParameters, out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", kBuffers, out);
  return out;
}

std::vector<Tensor> Module::buffers() const {
  std::vector<Tensor> out;
  for (auto& [_, b] : named_buffers()) out.push_back(b);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", kParameters | kBuffers, out);
  return out;
}

Module::LoadResult Module::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state, bool strict) {
  auto own = state_dict();
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : state)
    if (!given.emplace(name, &t).second)
      fail<ValueError>("load_state_dict: '{}' appears twice in the state; keep one entry per name", name);
  // Check everything first, so that a mismatch leaves the module untouched.
  LoadResult result;
  std::map<std::string, bool> known;
  for (const auto& [name, t] : own) {
    known[name] = true;
    auto it = given.find(name);
    if (it == given.end()) {
      if (strict)
        fail<ValueError>(
            "load_state_dict: the state has no '{}' (shape {}); it was saved from another model (strict = false "
            "loads the names both have and reports the rest)",
            name, t.shape());
      result.missing_keys.push_back(name);
      continue;
    }
    if (!it->second->defined() || !(it->second->shape() == t.shape()))
      fail<ShapeError>(
          "load_state_dict: '{}' has shape {} in the state but {} in the model; load a state saved from a model of "
          "the same architecture",
          name, it->second->defined() ? it->second->shape().str() : std::string("undefined"), t.shape());
  }
  for (const auto& [name, _] : state) {
    if (known.count(name)) continue;
    if (strict)
      fail<ValueError>(
          "load_state_dict: the state has '{}', which the model does not have; remove it, or load the state into "
          "the model it was saved from (strict = false skips it and reports it)",
          name);
    result.unexpected_keys.push_back(name);
  }
  NoGradGuard no_grad;
  for (auto& [name, t] : own)
    if (auto it = given.find(name); it != given.end()) t.copy_(*it->second);
  return result;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  auto visit = [&](auto&& self, const std::string& prefix, Module& m) -> void {
    for (const auto& [_, seen] : out)
      if (seen == &m) return;  // a module reached twice is listed once, under its first name
    out.emplace_back(prefix, &m);
    for (const auto& [name, child] : m.children_) self(self, prefix.empty() ? name : prefix + "." + name, *child);
  };
  visit(visit, "", *this);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, child] : children_) child->train(on);
}

Module& Module::apply(const std::function<void(Module&)>& fn) {
  if (!fn) fail<ValueError>("Module::apply: the function is empty; pass a callable void(tg::Module&)");
  // Note: a copy of the children, so that fn may register new children without invalidating
  // the loop; the new ones are not visited (PyTorch's children() is a generator over the same
  // dict, which raises instead).
  auto children = children_;
  std::vector<const Module*> seen;
  for (const auto& [_, child] : children) {
    if (std::find(seen.begin(), seen.end(), child.get()) != seen.end()) continue;
    seen.push_back(child.get());
    child->apply(fn);
  }
  fn(*this);
  return *this;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [_, p] : named_parameters()) out.push_back(p);
  return out;
}

void Module::zero_grad(bool set_to_none) {
  std::vector<Tensor> params = parameters();
  tg::zero_grad(params, set_to_none);
}

std::string Module::type_name() const {
  // The demangled class name without its namespaces: "tg::Linear" prints as "Linear", a user's
  // "(anonymous namespace)::Net" as "Net".
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(typeid(*this).name(), nullptr, nullptr, &status),
                                              std::free);
  std::string full = status == 0 && name ? name.get() : typeid(*this).name();
  const std::size_t colon = full.rfind("::");
  return colon == std::string::npos ? full : full.substr(colon + 2);
}

namespace {

// Indents every line after the first by two spaces (PyTorch's _addindent).
std::string indent_rest(const std::string& text) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') out += "  ";
  }
  return out;
}

}  // namespace

std::string to_string(const Module& module) {
  const std::string extra = module.extra_repr();
  const auto& children = module.named_children();
  if (children.empty()) return module.type_name() + "(" + extra + ")";
  std::string out = module.type_name() + "(\n";
  if (!extra.empty()) out += "  " + indent_rest(extra) + "\n";
  for (const auto& [name, child] : children) out += "  (" + name + "): " + indent_rest(to_string(*child)) + "\n";
  return out + ")";
}

std::ostream& operator<<(std::ostream& out, const Module& module) { return out << to_string(module); }

}  // namespace tg
