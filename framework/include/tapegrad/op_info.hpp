// SPDX-License-Identifier: MIT
#pragma once
// OpInfo: what the engine knows about a differentiable op, declared once per op.
//
// Every op that records a tape entry passes its OpInfo to record(): the built-in ops pass
// their entry of the registry (tapegrad/registry.hpp), a user-defined op its own. The checks
// derive from the registry: the gradcheck and adjoint_check sweeps run every op on the
// samples its entry generates, the undefined-input and wrong-dtype rows call it with each
// input missing or of a dtype it does not accept, and the PyTorch-fixture test requires a
// fixture for every op. docs/autograd.md, "How to add an op", shows a line of it.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tapegrad/dtype.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

// One way to call an op, for the sweeps: `inputs` are the op's tensor inputs in order (float64
// where they are differentiable), and `call` applies the op to them with its other arguments.
struct OpSample {
  std::string label = {};                                              // "broadcast", "stride 2, padding 1"
  std::vector<Tensor> inputs = {};                                     // float64 where differentiable
  std::function<Tensor(const std::vector<Tensor>& inputs)> call = {};  // the op on them
  double eps = 1e-6;                                                   // central-difference step
  double tolerance = 1e-6;  // adjoint_check's rtol (larger for an output rounded to float32)
};

// A call that must be refused, for the bad-input test: which error, and what its message says.
struct OpErrorSample {
  enum class Kind { Shape, Value, Dtype, Autograd };
  std::string label;
  std::function<void()> call;
  Kind kind;
  std::vector<std::string> contains;  // pieces the message must contain (the op, the values, the fix)
};

struct OpInfo {
  static constexpr int kVariadic = -1;

  const char* name = "";
  // Forward mode: the op's JVP rule in words ("dy = dx * y"), as the op computes it beside its
  // backward (Note [JVP rules] in forward_ad.hpp); every built-in op states one, and the JVP
  // sweep of the tests checks each rule against the op's backward.
  const char* jvp = nullptr;
  // Reverse mode: what the op's backward computes, in words ("da = dy * b, db = dy * a"), for
  // a student reading the tape (the tape explorer shows it beside each entry); every built-in op
  // states one, and a test checks that it names the gradient of every differentiable input.
  const char* vjp = nullptr;
  // How a tensor it computed prints its grad_fn; derived from the name ("mul" -> "MulBackward0")
  // unless set, so that the variants of an op print as PyTorch prints them ("MulBackward0" for
  // mul_scalar, whose result PyTorch also prints that way).
  const char* grad_fn = nullptr;
  int num_inputs = 1;   // tensor inputs; kVariadic for a list of any length (cat)
  int num_outputs = 1;  // tensor outputs
  // Bit i set: input i never gets a gradient (class indices, running statistics, a mask).
  std::uint32_t no_grad_inputs = 0;
  // Bit i set: input i may be an undefined Tensor() (an optional bias).
  std::uint32_t optional_inputs = 0;
  // Bit k set: output k carries no gradient (the indices of a max).
  std::uint32_t no_grad_outputs = 0;
  // The dtypes of the differentiable inputs; others are refused, naming the op and the dtype.
  DtypeSet dtypes = kFloatingTypes;
  // For the registry's checks: how to call the op (every built-in op has samples), and calls it
  // must refuse beyond the undefined inputs and wrong dtypes that the checks derive themselves.
  std::function<std::vector<OpSample>(Generator& gen)> samples = {};
  std::function<std::vector<OpErrorSample>()> errors = {};
  // Why the op has no PyTorch fixture (scripts/fixtures/registry.py), when it cannot have one;
  // the fixture test requires one of every other op.
  const char* no_fixture = nullptr;
  // Higher order: the registry op that computes this op's backward when that backward must be
  // differentiated or carry tangents (conv2d: conv2d_backward_input; sigmoid: sigmoid_backward).
  const OpInfo* backward_op = nullptr;

  // Set when the entry is registered: its place in the table of every OpInfo (what a tensor
  // stores to name its grad_fn), and whether it is one of tapegrad's own.
  std::uint16_t index = 0;
  bool builtin = false;
};

// Gives `op` its index (a user-defined op's OpInfo must outlive the tensors it computes: make it
// static, as tg::Function does). Built-in ops are registered by the registry itself.
void register_op(OpInfo& op);
// The OpInfo with index `index` (0: none).
const OpInfo* op_by_index(std::uint16_t index);

}  // namespace tg
