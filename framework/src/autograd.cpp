// SPDX-License-Identifier: MIT
// tg::grad and the reverse-mode functional API (autograd.hpp): thin layers over the tape's
// sweep with targets (Tape::backward), which captures the gradients of the inputs asked for.
#include "tapegrad/autograd.hpp"

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const GradOptions& options) {
  if (outputs.empty()) fail<ValueError>("grad: no outputs; pass the tensors to differentiate, grad({{loss}}, {{x}})");
  if (inputs.empty())
    fail<ValueError>("grad: no inputs; pass the tensors to differentiate with respect to, grad({{loss}}, {{x}})");
  if (!options.grad_outputs.empty() && options.grad_outputs.size() != outputs.size())
    fail<ValueError>(
        "grad: {} grad_outputs for {} outputs; pass one per output (an undefined Tensor() seeds a scalar with 1)",
        options.grad_outputs.size(), outputs.size());
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    if (!outputs[k].defined()) fail<ValueError>("grad: output {} is an undefined tensor; pass a tensor with data", k);
    if (!outputs[k].requires_grad())
      fail<AutogradError>(
          "grad: output {} {} does not require grad and was not computed from a tensor that does; call "
          "requires_grad_() on the inputs before computing it, outside NoGradGuard",
          k, outputs[k].shape());
  }
  const std::uint32_t tape = Tape::current().id();
  std::vector<GradTarget> targets;
  std::vector<std::size_t> target_of(inputs.size());  // an input given twice shares one target
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined()) fail<ValueError>("grad: input {} is an undefined tensor; pass a tensor with data", k);
    if (!x.requires_grad())
      fail<AutogradError>(
          "grad: input {} {} does not require grad, so no gradient flows to it; call requires_grad_() on it "
          "before computing the outputs",
          k, x.shape());
    if (!x.is_leaf() && x.impl().tape != tape)
      fail<AutogradError>("grad: input {} {} was recorded on another thread's tape; a graph belongs to its thread", k,
                          x.shape());
    std::size_t t = 0;
    while (t < targets.size() && !(x.is_leaf() ? targets[t].leaf == x.impl_ptr()
                                               : targets[t].history != 0 && targets[t].history == x.impl().history))
      ++t;
    if (t == targets.size()) {
      GradTarget& target = targets.emplace_back();
      if (x.is_leaf())
        target.leaf = x.impl_ptr();
      else
        target.history = x.impl().history;
    }
    target_of[k] = t;
  }
  Tape::current().backward(outputs, options.grad_outputs, options.retain_graph.value_or(options.create_graph),
                           options.create_graph, targets);
  std::vector<Tensor> result(inputs.size());
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    Tensor g = targets[target_of[k]].grad;
    if (!g.defined()) {
      if (!options.allow_unused && !options.materialize_grads)
        fail<AutogradError>(
            "grad: input {} {} was not used to compute the outputs, so it has no gradient; pass "
            "{{.allow_unused = true}} to get an undefined Tensor() for it (or .materialize_grads = true for zeros)",
            k, inputs[k].shape());
      if (options.materialize_grads) g = zeros_like(inputs[k]);
    }
    result[k] = std::move(g);
  }
  return result;
}

namespace {

// The tensors the functional API passes to f: fresh leaves that require grad, or, with
// create_graph, the caller's tensors themselves when they require grad (so that the results
// stay differentiable with respect to them, as torch.autograd.functional does).
std::vector<Tensor> prepare(const char* op, const std::vector<Tensor>& inputs, bool create_graph) {
  if (inputs.empty()) fail<ValueError>("{}: no inputs; pass the tensors f is a function of", op);
  std::vector<Tensor> xs;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined()) fail<ValueError>("{}: input {} is an undefined tensor; pass a tensor with data", op, k);
    if (!x.is_floating_point())
      fail<DtypeError>("{}: input {} is {} {}; only float32 and float64 inputs have gradients; convert it with .to()",
                       op, k, dtype_name(x.dtype()), x.shape());
    xs.push_back(create_graph && x.requires_grad() ? x : x.detach().requires_grad_());
  }
  return xs;
}

Tensor call(const char* op, const TensorFunction& f, const std::vector<Tensor>& xs) {
  if (!f) fail<ValueError>("{}: f is empty; pass a function of the inputs", op);
  Tensor y = f(xs);
  if (!y.defined()) fail<ValueError>("{}: f returned an undefined tensor; return the function's value", op);
  return y;
}

void check_scalar(const char* op, const Tensor& y) {
  if (y.numel() != 1)
    fail<ShapeError>("{}: f must return a single number, got shape {}; reduce it (sum() or mean()) first", op,
                     y.shape());
}

// The gradients of `outputs` (those that require grad) seeded by `seeds`; zeros for inputs
// nothing reaches, or an AutogradError naming the input without allow_unused.
std::vector<Tensor> grads_of(const char* op, const std::vector<Tensor>& outputs, const std::vector<Tensor>& seeds,
                             const std::vector<Tensor>& xs, bool create_graph, bool allow_unused) {
  std::vector<Tensor> outs, gs;
  for (std::size_t k = 0; k < outputs.size(); ++k)
    if (outputs[k].requires_grad()) {
      outs.push_back(outputs[k]);
      if (!seeds.empty()) gs.push_back(seeds[k]);
    }
  std::vector<Tensor> result(xs.size());
  if (!outs.empty())
    result =
        grad(outs, xs, {.grad_outputs = gs, .retain_graph = true, .create_graph = create_graph, .allow_unused = true});
  for (std::size_t k = 0; k < xs.size(); ++k) {
    if (result[k].defined()) continue;
    if (!allow_unused)
      fail<AutogradError>(
          "{}: the output does not depend on input {} {}; pass {{.allow_unused = true}} to get zeros for it", op, k,
          xs[k].shape());
    result[k] = zeros_like(xs[k]);
  }
  return result;
}

Tensor result_of(const Tensor& t, bool create_graph) { return create_graph ? t : t.detach(); }

void check_no_level(const char* op) {
  if (DualLevel::current() != 0)
    fail<AutogradError>(
        "{}: a dual level is active already, and forward mode needs a level of its own (levels do not nest); call "
        "{} outside the tg::DualLevel scope",
        op, op);
}

// v[k], checked against input k, in its dtype.
std::vector<Tensor> directions(const char* op, const std::vector<Tensor>& xs, const std::vector<Tensor>& v) {
  if (v.size() != xs.size())
    fail<ValueError>("{}: {} vectors for {} inputs; pass one v per input, shaped as it", op, v.size(), xs.size());
  std::vector<Tensor> out;
  for (std::size_t k = 0; k < v.size(); ++k) {
    if (!v[k].defined() || !(v[k].shape() == xs[k].shape()))
      fail<ShapeError>("{}: v[{}] has shape {} but input {} has shape {}; pass one v per input, shaped as it", op, k,
                       v[k].defined() ? v[k].shape().str() : std::string("(undefined)"), k, xs[k].shape());
    out.push_back(v[k].dtype() == xs[k].dtype() ? v[k] : v[k].to(xs[k].dtype()));
  }
  return out;
}

// Forward over reverse: inside one dual level with tangent v on each input, the gradient's
// tangent is H v (the backward functions run with registry ops whose JVP rules carry the
// saved tensors' tangents into the gradients; nothing is recorded without create_graph).
HvpResult hvp_forward_over_reverse(const TensorFunction& f, const std::vector<Tensor>& xs, const std::vector<Tensor>& v,
                                   FunctionalOptions options) {
  check_no_level("hvp");
  DualLevel level;
  std::vector<Tensor> duals;
  for (std::size_t k = 0; k < xs.size(); ++k) duals.push_back(make_dual(xs[k], v[k]));
  Tensor y = call("hvp", f, duals);
  check_scalar("hvp", y);
  std::vector<Tensor> g = grads_of("hvp", {y}, {}, duals, options.create_graph, options.allow_unused);
  HvpResult r;
  for (std::size_t k = 0; k < xs.size(); ++k) {
    Tensor h = tangent(g[k]);
    r.grads.push_back(result_of(h.defined() ? h : zeros_like(xs[k]), options.create_graph));
  }
  r.output = result_of(unpack_dual(y).primal, options.create_graph);
  return r;
}

}  // namespace

VjpResult vjp(const TensorFunction& f, const std::vector<Tensor>& inputs, const Tensor& v, FunctionalOptions options) {
  EnableGradGuard enable;
  std::vector<Tensor> xs = prepare("vjp", inputs, options.create_graph);
  Tensor y = call("vjp", f, xs);
  if (v.defined() && !(v.shape() == y.shape()))
    fail<ShapeError>("vjp: v has shape {} but f's output has shape {}; v must be shaped as the output", v.shape(),
                     y.shape());
  if (!v.defined() && y.numel() != 1)
    fail<ValueError>(
        "vjp: f's output has shape {}; pass v, a tensor of that shape (only a scalar output defaults to 1)", y.shape());
  VjpResult r;
  r.grads = grads_of("vjp", {y}, {v}, xs, options.create_graph, options.allow_unused);
  for (Tensor& g : r.grads) g = result_of(g, options.create_graph);
  r.output = result_of(y, options.create_graph);
  return r;
}

std::vector<std::vector<Tensor>> hessian(const TensorFunction& f, const std::vector<Tensor>& inputs,
                                         FunctionalOptions options) {
  EnableGradGuard enable;
  std::vector<Tensor> xs = prepare("hessian", inputs, options.create_graph);
  Tensor y = call("hessian", f, xs);
  check_scalar("hessian", y);
  std::vector<Tensor> g = grads_of("hessian", {y}, {}, xs, true, options.allow_unused);
  const std::size_t n = xs.size();
  std::vector<std::vector<Tensor>> H(n, std::vector<Tensor>(n));
  for (std::size_t i = 0; i < n; ++i) {
    // Row a of block (i, j): the gradient of g_i[a], one backward per element of input i.
    std::vector<std::vector<Tensor>> rows(n);
    for (std::int64_t a = 0; a < xs[i].numel(); ++a) {
      Tensor e = zeros({g[i].numel()}, {.dtype = kFloat64});
      e.data<double>()[a] = 1.0;
      Tensor seed = reshape(e, g[i].shape()).to(g[i].dtype());
      std::vector<Tensor> row = grads_of("hessian", {g[i]}, {seed}, xs, options.create_graph, true);
      for (std::size_t j = 0; j < n; ++j) rows[j].push_back(reshape(row[j], {-1}));
    }
    for (std::size_t j = 0; j < n; ++j) {
      Shape shape = xs[i].shape();
      for (std::int64_t s : xs[j].shape()) shape.push_back(s);
      Tensor block = rows[j].empty() ? zeros(shape, {.dtype = xs[j].dtype()}) : reshape(stack(rows[j], 0), shape);
      H[i][j] = result_of(block, options.create_graph);
    }
  }
  return H;
}

Tensor hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, FunctionalOptions options) {
  if (!f) fail<ValueError>("hessian: f is empty; pass a function of x");
  return hessian([&](const std::vector<Tensor>& xs) { return f(xs[0]); }, std::vector<Tensor>{x}, options)[0][0];
}

HvpResult hvp(const TensorFunction& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& v,
              FunctionalOptions options) {
  EnableGradGuard enable;
  std::vector<Tensor> xs = prepare("hvp", inputs, options.create_graph);
  std::vector<Tensor> vs = directions("hvp", xs, v);
  // Auto: forward over reverse, measured the cheaper on LeNet (docs/performance.md).
  const bool forward = options.mode != AdMode::Reverse;
  if (forward) return hvp_forward_over_reverse(f, xs, vs, options);
  Tensor y = call("hvp", f, xs);
  check_scalar("hvp", y);
  std::vector<Tensor> g = grads_of("hvp", {y}, {}, xs, true, options.allow_unused);
  HvpResult r;
  r.grads = grads_of("hvp", g, vs, xs, options.create_graph, true);
  for (Tensor& h : r.grads) h = result_of(h, options.create_graph);
  r.output = result_of(y, options.create_graph);
  return r;
}

namespace {

// Element a of n set to 1.
Tensor one_hot(std::int64_t n, std::int64_t a, Dtype dtype) {
  Tensor e = zeros({n}, {.dtype = kFloat64});
  e.data<double>()[a] = 1.0;
  return e.to(dtype);
}

// The inputs of a forward-mode pass: the caller's tensors with create_graph (so that results
// stay differentiable with respect to them), else detached.
std::vector<Tensor> forward_inputs(const char* op, const std::vector<Tensor>& inputs, bool create_graph) {
  if (inputs.empty()) fail<ValueError>("{}: no inputs; pass the tensors f is a function of", op);
  std::vector<Tensor> xs;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined()) fail<ValueError>("{}: input {} is an undefined tensor; pass a tensor with data", op, k);
    if (!x.is_floating_point())
      fail<DtypeError>("{}: input {} is {} {}; only float32 and float64 inputs have derivatives; convert it with .to()",
                       op, k, dtype_name(x.dtype()), x.shape());
    xs.push_back(create_graph ? x : x.detach());
  }
  return xs;
}

// One dual forward pass: f at xs, with tangent v[k] on input k (undefined: none). Returns f's
// value and its tangent (zeros when f does not depend on the inputs that carry one).
std::pair<Tensor, Tensor> dual_pass(const char* op, const TensorFunction& f, const std::vector<Tensor>& xs,
                                    const std::vector<Tensor>& v) {
  DualLevel level;
  std::vector<Tensor> duals;
  for (std::size_t k = 0; k < xs.size(); ++k) duals.push_back(v[k].defined() ? make_dual(xs[k], v[k]) : xs[k]);
  Tensor y = call(op, f, duals);
  UnpackedDual d = unpack_dual(y);
  return {d.primal, d.tangent.defined() ? d.tangent : zeros_like(d.primal)};
}

}  // namespace

JvpResult jvp(const TensorFunction& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& v,
              FunctionalOptions options) {
  JvpResult r;
  if (options.mode != AdMode::Reverse) {
    check_no_level("jvp");
    std::vector<Tensor> xs = forward_inputs("jvp", inputs, options.create_graph);
    std::vector<Tensor> vs = directions("jvp", xs, v);
    std::optional<NoGradGuard> no_grad;
    if (!options.create_graph) no_grad.emplace();  // nothing to record: the results are detached
    auto [y, t] = dual_pass("jvp", f, xs, vs);
    r.output = result_of(y, options.create_graph);
    r.jvp = result_of(t, options.create_graph);
    return r;
  }
  // The double-vjp trick: g(u) = J^T u is linear in u, so d<g(u), v>/du = J v.
  EnableGradGuard enable;
  std::vector<Tensor> xs = prepare("jvp", inputs, options.create_graph);
  std::vector<Tensor> vs = directions("jvp", xs, v);
  Tensor y = call("jvp", f, xs);
  Tensor u = zeros_like(y).requires_grad_();
  std::vector<Tensor> g;
  if (y.requires_grad())
    g = grad({y}, xs, {.grad_outputs = {u}, .retain_graph = true, .create_graph = true, .allow_unused = true});
  std::vector<Tensor> gs, seeds;
  for (std::size_t k = 0; k < g.size(); ++k)
    if (g[k].defined() && g[k].requires_grad()) {
      gs.push_back(g[k]);
      seeds.push_back(vs[k]);
    }
  Tensor t;
  if (!gs.empty())
    t = grad(gs, {u}, {.grad_outputs = seeds, .create_graph = options.create_graph, .allow_unused = true})[0];
  r.output = result_of(y, options.create_graph);
  r.jvp = result_of(t.defined() ? t : zeros_like(y), options.create_graph);
  return r;
}

std::vector<Tensor> jacobian(const TensorFunction& f, const std::vector<Tensor>& inputs, FunctionalOptions options) {
  EnableGradGuard enable;
  std::vector<Tensor> xs = prepare("jacobian", inputs, options.create_graph);
  Tensor y;
  std::int64_t n_in = 0;
  for (const Tensor& x : xs) n_in += x.numel();
  AdMode mode = options.mode;
  if (mode != AdMode::Forward) y = call("jacobian", f, xs);
  if (mode == AdMode::Auto) mode = n_in < y.numel() ? AdMode::Forward : AdMode::Reverse;
  std::vector<Tensor> J(xs.size());
  auto block_shape = [&](const Shape& out, std::size_t k) {
    Shape shape = out;
    for (std::int64_t s : xs[k].shape()) shape.push_back(s);
    return shape;
  };
  if (mode == AdMode::Forward) {
    check_no_level("jacobian");
    std::optional<NoGradGuard> no_grad;
    if (!options.create_graph) no_grad.emplace();
    for (std::size_t k = 0; k < xs.size(); ++k) {
      std::vector<Tensor> columns;
      for (std::int64_t a = 0; a < xs[k].numel(); ++a) {
        std::vector<Tensor> v(xs.size());
        v[k] = reshape(one_hot(xs[k].numel(), a, xs[k].dtype()), xs[k].shape());
        auto [value, t] = dual_pass("jacobian", f, xs, v);
        if (!y.defined()) y = value;
        columns.push_back(reshape(t, {-1}));
      }
      Shape out = y.defined() ? y.shape() : call("jacobian", f, xs).shape();
      Tensor block = columns.empty() ? zeros(block_shape(out, k), {.dtype = xs[k].dtype()})
                                     : reshape(stack(columns, 1), block_shape(out, k));
      J[k] = result_of(block, options.create_graph);
    }
    return J;
  }
  std::vector<std::vector<Tensor>> rows(xs.size());
  for (std::int64_t b = 0; b < y.numel(); ++b) {
    Tensor seed = reshape(one_hot(y.numel(), b, y.dtype()), y.shape());
    std::vector<Tensor> row = grads_of("jacobian", {y}, {seed}, xs, options.create_graph, true);
    for (std::size_t k = 0; k < xs.size(); ++k) rows[k].push_back(reshape(row[k], {-1}));
  }
  for (std::size_t k = 0; k < xs.size(); ++k) {
    Tensor block = rows[k].empty() ? zeros(block_shape(y.shape(), k), {.dtype = xs[k].dtype()})
                                   : reshape(stack(rows[k], 0), block_shape(y.shape(), k));
    J[k] = result_of(block, options.create_graph);
  }
  return J;
}

Tensor jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, FunctionalOptions options) {
  if (!f) fail<ValueError>("jacobian: f is empty; pass a function of x");
  return jacobian([&](const std::vector<Tensor>& xs) { return f(xs[0]); }, std::vector<Tensor>{x}, options)[0];
}

}  // namespace tg
