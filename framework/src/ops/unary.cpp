// Elementwise functions. Forwards use Eigen's vectorised exp/log/tanh; each backward is
// one line in terms of dy, the input x or the result y, like PyTorch's derivatives.yaml.
// Large tensors are split across threads (elementwise work has no order to keep).
#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

// y = e^x
// dx = dy * y
Tensor exp(const Tensor& x) {
  kernels::check_input(op::exp, x);
  Tensor y = kernels::map("exp", x, [](auto v) { return v.exp(); });
  if (should_record(x))
    record(op::exp, {x}, y, {y}, [](BackwardContext& ctx) {
      ctx.accumulate(0, kernels::zip("exp", ctx.grad(), ctx.saved(0), [](auto g, auto r) { return g * r; }));
    });
  return y;
}

// y = ln x
// dx = dy / x
Tensor log(const Tensor& x) {
  kernels::check_input(op::log, x);
  Tensor y = kernels::map("log", x, [](auto v) { return v.log(); });
  if (should_record(x))
    record(op::log, {x}, y, {x}, [](BackwardContext& ctx) {
      ctx.accumulate(0, kernels::zip("log", ctx.grad(), ctx.saved(0), [](auto g, auto v) { return g / v; }));
    });
  return y;
}

// y = max(x, 0)
// dx = dy * [not y <= 0]
// Note: at x = 0 we take the subgradient 0, as PyTorch does. A NaN input stays NaN (Eigen's
// PropagateNaN max, still vectorised: a plain SIMD max returns either operand) and passes
// the gradient through, as PyTorch's threshold_backward does: NaN <= 0 is false.
Tensor relu(const Tensor& x) {
  kernels::check_input(op::relu, x);
  Tensor y;
  if (!x.is_floating_point()) {
    y = kernels::scalar_binary(x, 0, x.dtype(), [](auto v, auto zero) { return v < zero ? zero : v; });
  } else {
    y = kernels::map("relu", x, [](auto v) {
      using T = typename decltype(v)::Scalar;
      using Plain = typename decltype(v)::PlainObject;
      return v.binaryExpr(Plain::Zero(v.size()), Eigen::internal::scalar_max_op<T, T, Eigen::PropagateNaN>());
    });
  }
  if (should_record(x))
    record(op::relu, {x}, y, {y}, [](BackwardContext& ctx) {
      ctx.accumulate(0, kernels::zip("relu", ctx.grad(), ctx.saved(0),
                                     [](auto g, auto r) { return r <= 0 ? decltype(g)(0) : g; }));
    });
  return y;
}

// y = 1 / (1 + e^-x)
// dx = dy * y * (1 - y)
Tensor sigmoid(const Tensor& x) {
  kernels::check_input(op::sigmoid, x);
  Tensor y = kernels::map("sigmoid", x, [](auto v) { return v.logistic(); });
  if (should_record(x))
    record(op::sigmoid, {x}, y, {y}, [](BackwardContext& ctx) {
      ctx.accumulate(0,
                     kernels::zip("sigmoid", ctx.grad(), ctx.saved(0), [](auto g, auto r) { return g * r * (1 - r); }));
    });
  return y;
}

// y = tanh x
// dx = dy * (1 - y^2)
Tensor tanh(const Tensor& x) {
  kernels::check_input(op::tanh, x);
  Tensor y = kernels::map("tanh", x, [](auto v) { return v.tanh(); });
  if (should_record(x))
    record(op::tanh, {x}, y, {y}, [](BackwardContext& ctx) {
      ctx.accumulate(0, kernels::zip("tanh", ctx.grad(), ctx.saved(0), [](auto g, auto r) { return g * (1 - r * r); }));
    });
  return y;
}

}  // namespace tg
