#pragma once
// Module: the base of every layer. It owns named parameters, buffers (state that is saved
// but not trained, such as BatchNorm's running statistics) and child modules, and lists
// them the way PyTorch's nn.Module does ("weight", "fc1.bias", "0.running_mean", ...).
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/tensor.hpp"

namespace tg {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;  // parameters are shared handles: copying would alias them
  Module& operator=(const Module&) = delete;

  // The layer's computation for one input. Layers with one input override it; the
  // default throws, naming the module type.
  virtual Tensor forward(const Tensor& x);
  // Calls forward(x) as nn.Module.__call__ does: the forward pre-hooks first, then forward()
  // inside this module's scope (its name in its parent, so that anomaly errors and the
  // tape can say "features.0"), then the forward hooks. Containers call their children
  // through it.
  Tensor operator()(const Tensor& x);

  // Hooks, as in PyTorch. A pre-hook sees the input and may replace it; a forward hook sees
  // the input and the output and may replace the output. A hook that returns an undefined
  // Tensor() changes nothing. Hooks run in the order registered; each call returns a handle
  // for remove_hook().
  using ForwardPreHook = std::function<Tensor(Module& module, const Tensor& input)>;
  using ForwardHook = std::function<Tensor(Module& module, const Tensor& input, const Tensor& output)>;
  int register_forward_pre_hook(ForwardPreHook hook);
  int register_forward_hook(ForwardHook hook);
  void remove_hook(int handle);  // ValueError if this module has no hook with that handle

  // Every parameter, this module's first and then its children's, in registration order.
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  // Clears the gradient of every parameter (PyTorch's zero_grad(set_to_none=True)); with
  // set_to_none = false, fills them with zeros instead.
  void zero_grad(bool set_to_none = true);

  // The direct children under their names, in registration order, as nn.Module.named_children().
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }

  // Calls fn on every module of the tree, as nn.Module.apply: each child's subtree first (in
  // registration order, recursively), then this module; returns *this. The usual use is
  // custom initialisation (tapegrad/init.hpp):
  //   net.apply([](tg::Module& m) {
  //     if (auto* linear = dynamic_cast<tg::Linear*>(&m)) tg::normal_(linear->weight, 0, 0.02);
  //   });
  // As in PyTorch, a module registered twice as a direct child is visited once there, but a
  // module shared by two parents is visited under each.
  Module& apply(const std::function<void(Module&)>& fn);

  std::vector<Tensor> buffers() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  // Parameters and buffers under the names a checkpoint uses: per module its parameters,
  // then its buffers, then its children's, as nn.Module.state_dict().
  std::vector<std::pair<std::string, Tensor>> state_dict() const;
  // Copies `state` into the parameters and buffers, as nn.Module.load_state_dict. With strict
  // (the default) the names must match state_dict() exactly; otherwise it throws (naming the
  // first difference) and changes nothing. With strict = false the names both have are loaded
  // and the others are reported: `missing` (the model's, absent from the state) and
  // `unexpected` (the state's, unknown to the model), each in the order it lists them. A shape
  // that differs is an error either way, as in PyTorch.
  struct LoadResult {
    std::vector<std::string> missing_keys;
    std::vector<std::string> unexpected_keys;
  };
  LoadResult load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state, bool strict = true);

  // This module and every module below it, with their dotted names ("" for this one,
  // "features", "features.0", ...), depth first in registration order, each module once, as
  // nn.Module.named_modules(). The pointers live as long as this module.
  std::vector<std::pair<std::string, Module*>> named_modules();

  // How the module prints, as nn.Module's repr: its type name (the class name without its
  // namespace) and extra_repr(), its configuration, e.g.
  //   Sequential(
  //     (0): Linear(in_features=4, out_features=8, bias=True)
  //     (1): ReLU()
  //   )
  // A layer overrides extra_repr() with PyTorch's text for its class; tg::to_string(module),
  // fmt::print("{}", module) and std::cout << module print the whole tree.
  virtual std::string extra_repr() const { return {}; }
  std::string type_name() const;

  // Training mode (the default) or evaluation mode, for this module and its children:
  // Dropout and BatchNorm behave differently in each.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

 protected:
  // Registers t (made to require grad) under `name` and returns it.
  Tensor register_parameter(const std::string& name, Tensor t);
  // Registers a buffer (not trained, but saved and loaded) under `name` and returns it.
  Tensor register_buffer(const std::string& name, Tensor t);
  // Registers a child module whose parameters are listed as "<name>.<param>".
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  // Throws ValueError unless `name` is non-empty, has no '.', and names no parameter or child yet.
  void check_new_name(const char* what, const std::string& name) const;
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  enum Select { kParameters = 1, kBuffers = 2 };
  void collect(const std::string& prefix, int select, std::vector<std::pair<std::string, Tensor>>& out) const;

  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
  std::string scope_name_;  // this module's name in its parent ("" for a top-level module)
  std::vector<std::pair<int, ForwardPreHook>> pre_hooks_;
  std::vector<std::pair<int, ForwardHook>> forward_hooks_;
  int next_hook_ = 0;
};

// The module and its children as PyTorch prints them (see Module::extra_repr).
std::string to_string(const Module& module);
std::ostream& operator<<(std::ostream& out, const Module& module);

}  // namespace tg

template <class M>
requires std::is_base_of_v<tg::Module, M>
struct fmt::formatter<M> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const M& module, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(tg::to_string(module), ctx);
  }
};
