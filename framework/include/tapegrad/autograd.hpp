// SPDX-License-Identifier: MIT
#pragma once
// Gradients as values: tg::grad, and the reverse-mode functional API (vjp, hessian, hvp), as
// torch.autograd.grad and torch.autograd.functional.
//
// tg::grad runs one backward sweep from the outputs and returns the gradients of the inputs
// instead of adding them to .grad (no .grad changes). With create_graph the sweep records
// itself (Note [recording backward] in tape.hpp), so the gradients it returns can be
// differentiated again: that is how a Hessian, a Hessian-vector product or a gradient
// penalty is computed.
//
//   tg::Tensor x = tg::tensor({1.0, 2.0}).requires_grad_();
//   tg::Tensor y = (x * x * x).sum();
//   tg::Tensor g = tg::grad({y}, {x}, {.create_graph = true})[0];  // 3 x^2 = [3, 12], a graph
//   tg::Tensor h = tg::grad({g.sum()}, {x})[0];                      // 6 x   = [6, 12]
#include <functional>
#include <optional>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

struct GradOptions {
  // The gradient of each output (its seed); empty, or an undefined entry: 1 for a scalar
  // output. With create_graph a seed that requires grad stays in the graph.
  std::vector<Tensor> grad_outputs = {};
  // Keep the tape entries for another backward; unset: as create_graph (PyTorch's default).
  std::optional<bool> retain_graph = std::nullopt;
  // Record the backward pass, so that the returned gradients can be differentiated again.
  bool create_graph = false;
  // An input that no output depends on gets an undefined Tensor() (zeros with
  // materialize_grads); without allow_unused it is an AutogradError naming the input.
  bool allow_unused = false;
  bool materialize_grads = false;
};

// The gradients of sum_k <outputs[k], grad_outputs[k]> with respect to each input (a leaf or
// an intermediate tensor that requires grad), one per input, in order.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const GradOptions& options = {});

// ---- the functional API, reverse mode (torch.autograd.functional) ----
// A function of tensors returning one tensor. The inputs it receives are fresh leaves that
// require grad (the caller's tensors are not touched), so it need not call requires_grad_().
using TensorFunction = std::function<Tensor(const std::vector<Tensor>& inputs)>;

// Which mode computes a derivative (jacobian, jvp, hvp); Auto lets the function choose (see each).
enum class AdMode { Auto, Forward, Reverse };

struct FunctionalOptions {
  bool create_graph = false;  // return results that can be differentiated again
  // An input the function does not depend on: its result is zeros (false: an AutogradError).
  bool allow_unused = true;
  AdMode mode = AdMode::Auto;
};

struct VjpResult {
  Tensor output;              // f(inputs)
  std::vector<Tensor> grads;  // v^T J, one per input, shaped as the input
};
// f(inputs) and the vector-Jacobian product v^T (df/dinputs); v is shaped as f's output
// (undefined: 1 for a scalar output).
VjpResult vjp(const TensorFunction& f, const std::vector<Tensor>& inputs, const Tensor& v = Tensor(),
              FunctionalOptions options = {});

// The Hessian of a scalar function: H[i][j] has shape inputs[i].shape + inputs[j].shape, and
// H[i][j][a..., b...] = d^2 f / d inputs[i][a...] d inputs[j][b...]. Reverse over reverse: one
// gradient with create_graph, then one backward per element of the inputs.
std::vector<std::vector<Tensor>> hessian(const TensorFunction& f, const std::vector<Tensor>& inputs,
                                         FunctionalOptions options = {});
// The same for a function of one tensor: a tensor of shape x.shape + x.shape.
Tensor hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, FunctionalOptions options = {});

struct HvpResult {
  Tensor output;              // f(inputs), a scalar
  std::vector<Tensor> grads;  // H v, one per input, shaped as the input
};
// The Hessian-vector product H v of a scalar function, v one tensor per input; it never forms H.
//   AdMode::Reverse, reverse over reverse: g = grad(f, inputs, create_graph), then
//     grad(g, inputs, grad_outputs = v): a forward, a recorded backward and its backward.
//   AdMode::Forward, forward over reverse: the inputs made dual with tangent v, then one
//     gradient inside the dual level; the gradient's tangent is H v. Nothing is recorded.
//   AdMode::Auto: forward over reverse, measured the cheaper on LeNet (docs/performance.md:
//     19.5 ms against 20.7 ms, batch 256, one thread), as torch.func.hvp. A tg::Function
//     without a jvp cannot carry the tangents: pass AdMode::Reverse for a function using one.
HvpResult hvp(const TensorFunction& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& v,
              FunctionalOptions options = {});

// ---- the functional API, forward mode (torch.func.jvp, torch.autograd.functional.jacobian) ----
struct JvpResult {
  Tensor output;  // f(inputs)
  Tensor jvp;     // J v: the derivative of f at inputs along v (one tangent per input), shaped as f's output
};
// f(inputs) and the Jacobian-vector product J v, v one tensor per input shaped as it.
//   AdMode::Forward (Auto): one forward pass on dual tensors (forward_ad.hpp).
//   AdMode::Reverse: by the double-vjp trick, as torch.autograd.functional.jvp: J v is the
//     gradient with respect to u of <J^T u, v>, two backward passes.
JvpResult jvp(const TensorFunction& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& v,
              FunctionalOptions options = {});

// The Jacobian of f (one output of any shape): J[k] has shape output.shape + inputs[k].shape.
//   AdMode::Forward: one dual forward pass per element of the inputs (a column of J each).
//   AdMode::Reverse: one forward, then one backward per element of the output (a row each).
//   AdMode::Auto: forward mode when the inputs have fewer elements than the output, else
//     reverse, since each costs one pass per element of its side.
std::vector<Tensor> jacobian(const TensorFunction& f, const std::vector<Tensor>& inputs,
                             FunctionalOptions options = {});
// The same for a function of one tensor: a tensor of shape f(x).shape + x.shape.
Tensor jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, FunctionalOptions options = {});

}  // namespace tg
