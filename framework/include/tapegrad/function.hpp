// SPDX-License-Identifier: MIT
#pragma once
// User-defined differentiable ops, as torch::autograd::Function<T>: a struct with a static
// forward and a static backward, applied with T::apply(inputs...). It records through the
// same record() as tapegrad's own ops (tape.hpp), with an OpInfo made for T.
//
//   struct Swish : tg::Function<Swish> {
//     static constexpr const char* name = "swish";
//     static tg::Tensor forward(tg::AutogradContext& ctx, const tg::Tensor& x) {
//       ctx.save_for_backward({x});
//       return x * tg::sigmoid(x);                 // runs with grad mode off
//     }
//     static std::vector<tg::Tensor> backward(tg::AutogradContext& ctx, const std::vector<tg::Tensor>& grads) {
//       tg::Tensor x = ctx.get_saved_variables()[0], s = tg::sigmoid(x);
//       return {grads[0] * (s + x * s * (1 - s))};  // one gradient per tensor input
//     }
//   };
//   tg::Tensor y = Swish::apply(x);
//
// forward takes the context and any arguments: tensors, lists of tensors (std::vector<Tensor>,
// for an op such as cat), and anything else (numbers, options). It returns a Tensor or a
// std::vector<Tensor> (an op with several outputs, such as split). backward gets one gradient
// per output (undefined where none arrived) and returns one per tensor input, flattened in
// argument order (an undefined Tensor() where there is none); a wrong count or shape is an
// AutogradError naming the op. docs/autograd.md, "Your own op", walks through it.
//
// Second derivatives: under backward with create_graph, backward runs with recording on, so a
// backward written with tensor ops (as Swish's above) is differentiated again. A backward that
// is not (it reads data<T>(), calls another library, or uses .detach()ed values) declares
//   static constexpr bool once_differentiable = true;
// and differentiating its gradients is then an AutogradError naming the op, never a wrong number.
//
// Forward mode (forward_ad.hpp): inside a dual level, an input that carries a tangent needs
//   static std::vector<tg::Tensor> jvp(tg::AutogradContext& ctx, const std::vector<tg::Tensor>& tangents);
// which gets one tangent per tensor input (undefined where none) and returns one per output,
// as torch.autograd.Function.jvp (for Swish: {tangents[0] * (s + x * s * (1 - s))}). It can read
// what forward saved with get_saved_variables() and saved_data. Without it, a tangent reaching
// the op is an AutogradError naming it, never a silently missing derivative.
#include <any>
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tapegrad/op_info.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

class AutogradContext {
 public:
  // forward: the tensors backward will read (inputs, outputs or anything computed). They are
  // checked against in-place writes when backward reads them (Note [saved tensors] in tape.hpp).
  void save_for_backward(std::vector<Tensor> tensors) { to_save_ = std::move(tensors); }
  // backward: those tensors, in order.
  std::vector<Tensor> get_saved_variables() const;
  // forward: outputs that carry no gradient (indices, masks); they get no history.
  void mark_non_differentiable(const std::vector<Tensor>& outputs);
  // backward: whether tensor input i (flattened, in argument order) needs a gradient.
  bool needs_input_grad(std::size_t input) const;
  // Anything else backward needs (a dim, a shape, a flag), by name.
  std::unordered_map<std::string, std::any> saved_data;

 private:
  template <class T>
  friend struct Function;
  friend struct FunctionDetail;
  std::vector<Tensor> to_save_;
  std::vector<Tensor> non_differentiable_;
  BackwardContext* backward_ = nullptr;  // during backward
  std::vector<bool> needs_;              // per tensor input, set when recorded
  bool once_differentiable_ = false;     // T::once_differentiable (FunctionDetail::record)
  bool in_jvp_ = false;                  // T::jvp is running: get_saved_variables() gives what forward saved
};

// What Function<T> does that is not a template (function.cpp).
struct FunctionDetail {
  static OpInfo make_op_info(const char* name);
  static std::string demangle(const char* mangled);
  // Records `outputs` = op(inputs) with ctx's saved tensors, backward calling `run`.
  using Run = std::vector<Tensor> (*)(AutogradContext& ctx, const std::vector<Tensor>& grads);
  // once_differentiable: T's backward computes with something the tape does not see (raw
  // data, another library), as torch.autograd.function.once_differentiable: under
  // create_graph its gradients are recorded as an entry whose own backward is an
  // AutogradError naming T, rather than as constants that would make a second derivative
  // silently wrong.
  static void record(const OpInfo& op, const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs,
                     std::shared_ptr<AutogradContext> ctx, Run run, bool once_differentiable = false);
  // Forward mode: an input carries a tangent but T has no jvp (an AutogradError naming T), and
  // T::jvp's results given to the outputs (one per output; a wrong count is an AutogradError).
  [[noreturn]] static void fail_no_jvp(const OpInfo& op);
  static void attach_tangents(const OpInfo& op, const std::vector<Tensor>& outputs, std::vector<Tensor>& tangents);
  static void collect(std::vector<Tensor>& out, const Tensor& t) { out.push_back(t); }
  static void collect(std::vector<Tensor>& out, const std::vector<Tensor>& ts) {
    out.insert(out.end(), ts.begin(), ts.end());
  }
  template <class A>
  static void collect(std::vector<Tensor>&, const A&) {}
};

template <class T>
struct Function {
  template <class... Args>
  static auto apply(Args&&... args) {
    std::vector<Tensor> inputs;
    (FunctionDetail::collect(inputs, args), ...);
    auto ctx = std::make_shared<AutogradContext>();
    bool any = false;
    for (const Tensor& t : inputs) {
      ctx->needs_.push_back(is_grad_enabled() && t.defined() && t.requires_grad());
      any = any || ctx->needs_.back();
    }
    using Result = decltype(T::forward(*ctx, std::forward<Args>(args)...));
    static_assert(std::is_same_v<Result, Tensor> || std::is_same_v<Result, std::vector<Tensor>>,
                  "forward must return a tg::Tensor or a std::vector<tg::Tensor>");
    const bool dual = has_tangent(std::span<const Tensor>(inputs));
    if constexpr (!requires { &T::jvp; })
      if (dual) FunctionDetail::fail_no_jvp(op_info());
    std::vector<Tensor> outputs;
    {
      NoGradGuard no_grad;
      ForwardADSuspend forward_values_only;
      if constexpr (std::is_same_v<Result, Tensor>)
        outputs.push_back(T::forward(*ctx, std::forward<Args>(args)...));
      else
        outputs = T::forward(*ctx, std::forward<Args>(args)...);
    }
    if constexpr (requires { &T::jvp; })
      if (dual) {
        std::vector<Tensor> tangents;
        for (const Tensor& t : inputs) tangents.push_back(tangent(t));
        ctx->in_jvp_ = true;
        std::vector<Tensor> out;
        {
          ForwardADSuspend suspend;
          out = T::jvp(*ctx, tangents);
        }
        ctx->in_jvp_ = false;
        FunctionDetail::attach_tangents(op_info(), outputs, out);
      }
    bool once = false;
    if constexpr (requires { T::once_differentiable; }) once = T::once_differentiable;
    if (any)
      FunctionDetail::record(
          op_info(), inputs, outputs, std::move(ctx),
          [](AutogradContext& c, const std::vector<Tensor>& grads) { return T::backward(c, grads); }, once);
    if constexpr (std::is_same_v<Result, Tensor>)
      return outputs[0];
    else
      return outputs;
  }

  // The OpInfo that names T on the tape: T::name if it has one, else its C++ type name.
  static const OpInfo& op_info() {
    static OpInfo info = [] {
      if constexpr (requires { T::name; })
        return FunctionDetail::make_op_info(T::name);
      else
        return FunctionDetail::make_op_info(nullptr);
    }();
    static const bool named = [] {
      if (!info.name) {
        static const std::string type = FunctionDetail::demangle(typeid(T).name());
        info.name = type.c_str();
      }
      register_op(info);
      return true;
    }();
    (void)named;
    return info;
  }
};

}  // namespace tg
