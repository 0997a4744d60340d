#include "tapegrad/gradcheck.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tapegrad/error.hpp"
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

}  // namespace tg
