// SPDX-License-Identifier: MIT
#pragma once
// Module: the base of every layer. It owns named parameters, buffers (state that is saved
// but not trained, such as BatchNorm's running statistics) and child modules, and lists
// them the way PyTorch's nn.Module does ("weight", "fc1.bias", "0.running_mean", ...).
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/observer.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

// The tensors of a module call, as hooks see them.
using TensorList = std::vector<Tensor>;

namespace detail {
template <class T, template <class...> class Template>
inline constexpr bool is_specialization_v = false;
template <template <class...> class Template, class... Ts>
inline constexpr bool is_specialization_v<Template<Ts...>, Template> = true;
}  // namespace detail

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;  // parameters are shared handles: copying would alias them
  Module& operator=(const Module&) = delete;

  // The layer's computation for one input: what Sequential and Module::operator() call. Layers
  // with one input override it; the default throws, naming the module type.
  virtual Tensor forward(const Tensor& x);
  // Calls forward(x) as nn.Module.__call__ does: the forward pre-hooks first, then forward()
  // inside this module's scope (its name in its parent, so that anomaly errors and the
  // tape can say "features.0"), then the forward hooks. Containers call their children
  // through it.
  Tensor operator()(const Tensor& x);

  // Hooks, as in PyTorch. They see the tensors of a call as lists, whatever forward's types:
  // every Tensor among the arguments (and inside std::optional, std::vector and structs that
  // list their tensors with for_each_tensor, such as LSTMState), in order; an argument left
  // undefined (a state that defaults to zeros, an absent mask) is an undefined Tensor in the
  // list, and an empty std::optional adds nothing. A pre-hook sees the inputs and may return a
  // replacement list of the same length; a forward hook sees the inputs and the outputs and may
  // return replacement outputs. Returning std::nullopt (or nothing at all, from a hook declared
  // void) changes nothing. Hooks run in the order registered; each registration returns a handle
  // for remove_hook().
  //   lstm.register_forward_hook([](tg::Module& m, const tg::TensorList& in, const tg::TensorList& out) {
  //     fmt::print("{}: {} inputs -> output {}\n", m.type_name(), in.size(), out[0].shape());
  //   });
  using ForwardPreHook = std::function<std::optional<TensorList>(Module& module, const TensorList& inputs)>;
  using ForwardHook =
      std::function<std::optional<TensorList>(Module& module, const TensorList& inputs, const TensorList& outputs)>;
  int register_forward_pre_hook(ForwardPreHook hook);
  int register_forward_hook(ForwardHook hook);
  // Hooks that only look: a callable that returns nothing.
  template <class F>
  requires std::is_void_v<std::invoke_result_t<F&, Module&, const TensorList&>>
  int register_forward_pre_hook(F hook) {
    return register_forward_pre_hook(
        ForwardPreHook([h = std::move(hook)](Module& m, const TensorList& in) mutable -> std::optional<TensorList> {
          h(m, in);
          return std::nullopt;
        }));
  }
  template <class F>
  requires std::is_void_v<std::invoke_result_t<F&, Module&, const TensorList&, const TensorList&>>
  int register_forward_hook(F hook) {
    return register_forward_hook(
        ForwardHook([h = std::move(hook)](Module& m, const TensorList& in,
                                          const TensorList& out) mutable -> std::optional<TensorList> {
          h(m, in, out);
          return std::nullopt;
        }));
  }
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
  // How a layer with a typed forward declares its call: an operator() with forward's own
  // parameters (so that braced lists and default arguments work as in forward) that runs it
  // through call(*this, args...), which does what operator()(x) does for one tensor: pre-hooks,
  // self.forward(args...) in this module's scope, forward hooks. For example, LSTM's:
  //   LSTMOutput operator()(const Tensor& x, const std::optional<LSTMState>& state = std::nullopt) {
  //     return call(*this, x, state);
  //   }
  // The arguments are copied (tensors are handles, so this is cheap) so that a pre-hook can
  // replace the tensors in them.
  template <class Self, class... Args>
  auto call(Self& self, Args... args);

  // Registers a child module whose parameters are listed as "<name>.<param>".
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  // Runs the pre-hooks over `inputs`, replacing them with what a hook returns; true if one did.
  bool run_pre_hooks(TensorList& inputs);
  // Runs the forward hooks; true if one replaced `outputs`.
  bool run_forward_hooks(const TensorList& inputs, TensorList& outputs);
  bool has_hooks() const { return !pre_hooks_.empty() || !forward_hooks_.empty(); }

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

// Calls f(Tensor&) on every tensor inside `value`, in order: a Tensor itself, the contents of
// a std::optional (none when empty), of a std::vector, or of a struct with a member
// for_each_tensor(f) (LSTMState, LSTMOutput, MultiheadAttentionMasks, ...). Numbers, enums,
// strings and std::nullopt hold none. Module hooks see a call's tensors through it; a forward
// argument of any other type does not compile, so that no tensor is hidden from hooks.
template <class T, class F>
void for_each_tensor(T& value, F&& f) {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, Tensor>) {
    f(value);
  } else if constexpr (detail::is_specialization_v<U, std::optional>) {
    if (value) for_each_tensor(*value, f);
  } else if constexpr (detail::is_specialization_v<U, std::vector>) {
    for (auto& item : value) for_each_tensor(item, f);
  } else if constexpr (requires { value.for_each_tensor(f); }) {
    value.for_each_tensor(f);
  } else {
    static_assert(std::is_arithmetic_v<U> || std::is_enum_v<U> || std::is_same_v<U, std::nullopt_t> ||
                      std::is_convertible_v<U, std::string_view>,
                  "tg::for_each_tensor: a type that may hold tensors; give it a member template "
                  "for_each_tensor(F&& f) that calls f on each of its Tensor members");
  }
}

template <class Self, class... Args>
auto Module::call(Self& self, Args... args) {
  if (!has_hooks()) {
    ScopeGuard scope(scope_name_);
    return self.forward(std::as_const(args)...);
  }
  TensorList inputs;
  (for_each_tensor(args, [&](Tensor& t) { inputs.push_back(t); }), ...);
  if (run_pre_hooks(inputs)) {
    std::size_t i = 0;
    (for_each_tensor(args, [&](Tensor& t) { t = inputs[i++]; }), ...);
  }
  auto output = [&] {
    ScopeGuard scope(scope_name_);
    return self.forward(std::as_const(args)...);
  }();
  TensorList outputs;
  for_each_tensor(output, [&](Tensor& t) { outputs.push_back(t); });
  if (run_forward_hooks(inputs, outputs)) {
    std::size_t i = 0;
    for_each_tensor(output, [&](Tensor& t) { t = outputs[i++]; });
  }
  return output;
}

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
