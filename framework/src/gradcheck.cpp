// SPDX-License-Identifier: MIT
#include "tapegrad/gradcheck.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tapegrad/autograd.hpp"
#include "tapegrad/error.hpp"
#include "tapegrad/generator.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                          GradcheckOptions options) {
  if (!f) fail<ValueError>("gradcheck: f is empty; pass a function of the inputs");
  if (inputs.empty()) fail<ValueError>("gradcheck: no inputs; pass the tensors f is a function of");
  for (std::size_t k = 0; k < inputs.size(); ++k)
    if (!inputs[k].defined()) fail<ValueError>("gradcheck: input {} is undefined; pass a tensor", k);
  if (!(std::isfinite(options.eps) && options.eps > 0))
    fail<ValueError>("gradcheck: eps must be a positive finite step, got {}; the default 1e-6 suits float64",
                     options.eps);
  if (!(options.atol >= 0 && options.rtol >= 0))
    fail<ValueError>("gradcheck: atol {} and rtol {} must be >= 0; the defaults are 1e-5 and 1e-3", options.atol,
                     options.rtol);
  bool any_requires = false;
  for (const Tensor& x : inputs) any_requires = any_requires || x.requires_grad();
  GradcheckResult result;
  std::vector<Tensor> xs;
  std::vector<bool> checked;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    // Floating inputs run in float64 (central differences in float32 lose about half their
    // digits); others (class indices, masks) are passed as they are.
    if (x.dtype() == kFloat32)
      result.notes.push_back(
          fmt::format("input {} {} converted from float32 to float64 for central differences", k, x.shape()));
    xs.push_back(x.is_floating_point() ? x.detach().to(kFloat64).clone() : x.detach());
    checked.push_back(x.is_floating_point() && (any_requires ? x.requires_grad() : true));
  }
  auto call = [&](const std::vector<Tensor>& args) {
    try {
      return f(args);
    } catch (const DtypeError& e) {
      if (result.notes.empty()) throw;
      fail<DtypeError>(
          "gradcheck: {}; f was called with its inputs converted to float64 ({}): an op that takes "
          "float32 only cannot be checked in double precision",
          e.what(), fmt::join(result.notes, "; "));
    }
  };
  auto evaluate = [&] {
    NoGradGuard no_grad;
    return call(xs).tolist();
  };
  std::size_t outputs = evaluate().size();

  // Numeric Jacobian, one input element at a time: numeric[k][j][i] = d out_i / d x_k[j].
  std::vector<std::vector<std::vector<double>>> numeric(xs.size());
  for (std::size_t k = 0; k < xs.size(); ++k) {
    if (!checked[k]) continue;
    double* p = xs[k].data<double>();
    for (std::int64_t j = 0; j < xs[k].numel(); ++j) {
      double saved = p[j];
      p[j] = saved + options.eps;
      std::vector<double> plus = evaluate();
      p[j] = saved - options.eps;
      std::vector<double> minus = evaluate();
      p[j] = saved;
      std::vector<double> column(outputs);
      for (std::size_t i = 0; i < outputs; ++i) column[i] = (plus[i] - minus[i]) / (2 * options.eps);
      numeric[k].push_back(std::move(column));
    }
  }

  // Analytic Jacobian, one output element at a time, through backward().
  std::vector<Tensor> leaves;
  for (std::size_t k = 0; k < xs.size(); ++k) leaves.push_back(xs[k].detach().requires_grad_(checked[k]));
  for (std::size_t i = 0; i < outputs; ++i) {
    Tensor y = call(leaves);
    if (!y.requires_grad()) {
      result.ok = false;
      result.message = "gradcheck: the output does not require grad; f must compute it from its inputs";
      return result;
    }
    Tensor seed = zeros(y.shape(), {.dtype = y.dtype()});
    dispatch(y.dtype(), [&]<class T>() { seed.data<T>()[i] = 1; });
    for (Tensor& x : leaves)
      if (x.requires_grad()) x.set_grad(Tensor());
    y.backward(seed);
    for (std::size_t k = 0; k < xs.size(); ++k) {
      if (!checked[k]) continue;
      Tensor g = leaves[k].grad();
      std::vector<double> analytic =
          g.defined() ? g.tolist() : std::vector<double>(static_cast<std::size_t>(xs[k].numel()), 0.0);
      for (std::size_t j = 0; j < analytic.size(); ++j) {
        double num = numeric[k][j][i], err = std::abs(analytic[j] - num);
        result.max_error = std::max(result.max_error, err);
        if (result.ok && !(err <= options.atol + options.rtol * std::abs(num))) {
          result.ok = false;
          result.message = fmt::format(
              "gradcheck: Jacobian mismatch for input {} (shape {}), element {}, output element {}: analytic {} vs "
              "numeric {}",
              k, xs[k].shape(), j, i, analytic[j], num);
        }
      }
    }
  }
  return result;
}

GradcheckResult gradgradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                              const std::vector<Tensor>& inputs, GradcheckOptions options) {
  if (!f) fail<ValueError>("gradgradcheck: f is empty; pass a function of the inputs");
  if (inputs.empty()) fail<ValueError>("gradgradcheck: no inputs; pass the tensors f is a function of");
  bool any_requires = false;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    if (!inputs[k].defined()) fail<ValueError>("gradgradcheck: input {} is undefined; pass a tensor", k);
    any_requires = any_requires || inputs[k].requires_grad();
  }
  // Which inputs are differentiated (as gradcheck decides), and the seed v of f's output.
  std::vector<Tensor> args;
  std::vector<bool> diff;
  for (const Tensor& x : inputs) {
    const bool d = x.is_floating_point() && (any_requires ? x.requires_grad() : true);
    diff.push_back(d);
    args.push_back(x.is_floating_point() ? x.detach().to(kFloat64).clone().requires_grad_(d) : x.detach());
  }
  Tensor y0;
  {
    NoGradGuard no_grad;
    y0 = f(args);
  }
  if (!y0.defined() || !y0.is_floating_point())
    fail<ValueError>("gradgradcheck: f must return a floating tensor to differentiate");
  Generator gen(20261203);
  args.push_back(randn(y0.shape(), gen, {.dtype = kFloat64}).requires_grad_());
  const std::size_t n = inputs.size();
  auto first_derivatives = [&](const std::vector<Tensor>& a) {
    EnableGradGuard enable;  // gradcheck's numeric side calls this without grad mode
    std::vector<Tensor> xs(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(n)), wrt;
    for (std::size_t k = 0; k < n; ++k)
      if (diff[k]) {
        if (!xs[k].requires_grad()) xs[k] = xs[k].detach().requires_grad_();
        wrt.push_back(xs[k]);
      }
    Tensor y = f(xs);
    std::vector<Tensor> parts;
    if (y.requires_grad()) {
      for (const Tensor& g : grad({y}, wrt, {.grad_outputs = {a[n]}, .create_graph = true, .materialize_grads = true}))
        parts.push_back(reshape(g, {-1}));
    } else {
      for (const Tensor& x : wrt) parts.push_back(zeros({x.numel()}, {.dtype = kFloat64}));
    }
    Tensor out = cat(parts, 0);
    // A first derivative that is constant (sign, a step) has second derivative 0 and no
    // graph: joined to v by a zero term, so that gradcheck compares zeros with zeros.
    if (!out.requires_grad() && a[n].requires_grad()) out = out + a[n].sum() * 0.0;
    return out;
  };
  return gradcheck(first_derivatives, args, options);
}

}  // namespace tg
