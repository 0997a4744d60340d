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
  if (v.size() != xs.size())
    fail<ValueError>("hvp: {} vectors for {} inputs; pass one v per input, shaped as it", v.size(), xs.size());
  for (std::size_t k = 0; k < v.size(); ++k)
    if (!v[k].defined() || !(v[k].shape() == xs[k].shape()))
      fail<ShapeError>("hvp: v[{}] has shape {} but input {} has shape {}; pass one v per input, shaped as it", k,
                       v[k].defined() ? v[k].shape().str() : std::string("(undefined)"), k, xs[k].shape());
  Tensor y = call("hvp", f, xs);
  check_scalar("hvp", y);
  std::vector<Tensor> g = grads_of("hvp", {y}, {}, xs, true, options.allow_unused);
  HvpResult r;
  r.grads = grads_of("hvp", g, v, xs, options.create_graph, true);
  for (Tensor& h : r.grads) h = result_of(h, options.create_graph);
  r.output = result_of(y, options.create_graph);
  return r;
}

}  // namespace tg
