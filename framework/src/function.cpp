// SPDX-License-Identifier: MIT
// What tg::Function<T> (function.hpp) does that is not a template: its OpInfo, and recording
// with the checks on what a user's backward returns.
#include "tapegrad/function.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

void FunctionDetail::fail_no_jvp(const OpInfo& op) {
  fail<AutogradError>(
      "{}: an input carries a forward-mode tangent, but the Function defines no jvp; add "
      "`static std::vector<tg::Tensor> jvp(tg::AutogradContext& ctx, const std::vector<tg::Tensor>& tangents)` "
      "returning one tangent per output (docs/autograd.md, \"Your own op\"); tg::hvp computes forward over reverse "
      "unless given {{.mode = tg::AdMode::Reverse}}, which needs no jvp",
      op.name);
}

void FunctionDetail::attach_tangents(const OpInfo& op, const std::vector<Tensor>& outputs,
                                     std::vector<Tensor>& tangents) {
  if (tangents.size() != outputs.size())
    fail<AutogradError>("{}: jvp returned {} tangent(s) for {} output(s); return one per output (undefined: none)",
                        op.name, tangents.size(), outputs.size());
  for (std::size_t k = 0; k < outputs.size(); ++k) detail::attach_tangent(op, outputs[k], std::move(tangents[k]));
}

std::vector<Tensor> AutogradContext::get_saved_variables() const {
  if (in_jvp_) return to_save_;
  if (!backward_)
    fail<AutogradError>(
        "get_saved_variables: call it in backward; in forward, the tensors are only declared with save_for_backward");
  std::vector<Tensor> out;
  for (std::size_t k = 0; k < backward_->entry().saved.size(); ++k) out.push_back(backward_->saved(k));
  return out;
}

void AutogradContext::mark_non_differentiable(const std::vector<Tensor>& outputs) {
  non_differentiable_.insert(non_differentiable_.end(), outputs.begin(), outputs.end());
}

bool AutogradContext::needs_input_grad(std::size_t input) const {
  if (input >= needs_.size())
    fail<ValueError>("needs_input_grad: input {} does not exist; the op has {} tensor input(s)", input, needs_.size());
  return needs_[input];
}

OpInfo FunctionDetail::make_op_info(const char* name) {
  OpInfo info;
  info.name = name;
  info.num_inputs = OpInfo::kVariadic;
  info.num_outputs = OpInfo::kVariadic;
  info.dtypes = kAllTypes;
  return info;
}

std::string FunctionDetail::demangle(const char* mangled) {
  int status = 0;
  char* plain = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string out = status == 0 && plain ? plain : mangled;
  std::free(plain);
  return out;
}

namespace {

// The entry a once_differentiable backward's gradients get under create_graph: its inputs are
// what those gradients depend on (the output gradients and the op's inputs), and its backward
// refuses to run.
const OpInfo& once_differentiable_op() {
  static OpInfo info = [] {
    OpInfo i = FunctionDetail::make_op_info("once_differentiable");
    i.grad_fn = "OnceDifferentiableBackward";
    return i;
  }();
  static const bool registered = (register_op(info), true);
  (void)registered;
  return info;
}

// Runs a once_differentiable backward without recording, and records each gradient it gave
// as the output of an entry whose backward names `name` in an AutogradError.
std::vector<Tensor> run_once_differentiable(const char* name, BackwardContext& b, AutogradContext& ctx,
                                            FunctionDetail::Run run, const std::vector<Tensor>& grads) {
  std::vector<Tensor> result;
  {
    NoGradGuard no_grad;
    result = run(ctx, grads);
  }
  std::vector<Tensor> deps;
  for (const Tensor& g : grads)
    if (g.defined() && g.requires_grad()) deps.push_back(g);
  for (const Edge& in : b.entry().inputs)
    if (in.tensor.defined()) deps.push_back(in.tensor);
  if (deps.empty()) return result;
  for (Tensor& r : result) {
    if (!r.defined()) continue;
    r = r.detach();
    Tape::current().record(once_differentiable_op(), deps, std::span<Tensor>(&r, 1), {}, [name](BackwardContext&) {
      fail<AutogradError>(
          "backward: {}'s backward is marked once_differentiable (it computes with something the tape does not "
          "see), so the gradient it gave cannot be differentiated again; write its backward with tensor ops and "
          "remove once_differentiable to take second derivatives through it",
          name);
    });
  }
  return result;
}

}  // namespace

void FunctionDetail::record(const OpInfo& op, const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs,
                            std::shared_ptr<AutogradContext> ctx, Run run, bool once_differentiable) {
  std::uint32_t no_grad_outputs = 0;
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    Tensor& out = outputs[k];
    if (!out.defined())
      fail<AutogradError>("{}: forward returned an undefined tensor as output {}; return a tensor with data", op.name,
                          k);
    // An output that is an input (or another output) must not take over its history: it
    // becomes a new tensor over the same data, as PyTorch does.
    auto same = [&](const Tensor& t) { return t.impl_ptr() == out.impl_ptr(); };
    if (std::any_of(inputs.begin(), inputs.end(), same) || std::any_of(outputs.begin(), outputs.begin() + k, same))
      out = out.detach();
    for (const Tensor& nd : ctx->non_differentiable_)
      if (nd.impl_ptr() == outputs[k].impl_ptr() && k < 32) no_grad_outputs |= std::uint32_t{1} << k;
  }
  ctx->non_differentiable_.clear();
  ctx->once_differentiable_ = once_differentiable;
  std::vector<Tensor> saved = std::move(ctx->to_save_);  // the entry holds them from here on
  ctx->to_save_.clear();
  Tape::current().record(
      op, inputs, outputs, saved,
      [ctx, run](BackwardContext& b) {
        std::vector<Tensor> grads;
        for (std::size_t k = 0; k < b.entry().outputs.size(); ++k) grads.push_back(b.grad(k));
        ctx->backward_ = &b;
        std::vector<Tensor> result;
        try {
          result = ctx->once_differentiable_ && b.create_graph()
                       ? run_once_differentiable(b.entry().op->name, b, *ctx, run, grads)
                       : run(*ctx, grads);
        } catch (...) {
          ctx->backward_ = nullptr;
          throw;
        }
        ctx->backward_ = nullptr;
        const OpInfo& op = *b.entry().op;
        if (result.size() != b.entry().inputs.size())
          fail<AutogradError>(
              "{}: backward returned {} gradient(s) but the op has {} tensor input(s); return one per tensor input, "
              "in argument order (an undefined tg::Tensor() for an input without one)",
              op.name, result.size(), b.entry().inputs.size());
        for (std::size_t i = 0; i < result.size(); ++i) {
          if (!result[i].defined() || !b.needs(i)) continue;
          const Shape& want = b.input_shape(i);
          bool fits = result[i].shape() == want;  // or it sums to the input's shape, as a broadcast gradient does
          if (!fits) try {
              fits = broadcast_shapes(op.name, want, result[i].shape()) == result[i].shape();
            } catch (const ShapeError&) {
            }
          if (!fits)
            fail<AutogradError>(
                "{}: backward returned a gradient of shape {} for input {}, which has shape {}; return a gradient "
                "shaped like the input",
                op.name, result[i].shape(), i, want);
          b.accumulate(i, std::move(result[i]));
        }
      },
      no_grad_outputs);
}

}  // namespace tg
