// Elementwise functions. Forwards use Eigen's vectorised exp/log/tanh; each backward is
// one line in terms of dy, the input x or the result y, like PyTorch's derivatives.yaml.
#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

// y = e^x
// dx = dy * y
Tensor exp(const Tensor& x) {
  Tensor y = kernels::map(x, [](auto v) { return v.exp(); });
  if (should_record(x))
    record("exp", {x}, y, [y = y.detach()](const Tensor& dy, Gradients& in) { in.accumulate(0, dy * y); });
  return y;
}

// y = ln x
// dx = dy / x
Tensor log(const Tensor& x) {
  Tensor y = kernels::map(x, [](auto v) { return v.log(); });
  if (should_record(x)) record("log", {x}, y, [x](const Tensor& dy, Gradients& in) { in.accumulate(0, dy / x); });
  return y;
}

// y = max(x, 0)
// dx = dy * [y > 0]
// Note: at x = 0 we take the subgradient 0, as PyTorch does.
Tensor relu(const Tensor& x) {
  Tensor y = kernels::map(x, [](auto v) { return v.max(0); });
  if (should_record(x))
    record("relu", {x}, y, [y = y.detach()](const Tensor& dy, Gradients& in) {
      in.accumulate(0, kernels::zip(dy, y, [](auto g, auto r) { return r > 0 ? g : decltype(g)(0); }));
    });
  return y;
}

// y = 1 / (1 + e^-x)
// dx = dy * y * (1 - y)
Tensor sigmoid(const Tensor& x) {
  Tensor y = kernels::map(x, [](auto v) { return v.logistic(); });
  if (should_record(x))
    record("sigmoid", {x}, y, [y = y.detach()](const Tensor& dy, Gradients& in) {
      in.accumulate(0, kernels::zip(dy, y, [](auto g, auto r) { return g * r * (1 - r); }));
    });
  return y;
}

// y = tanh x
// dx = dy * (1 - y^2)
Tensor tanh(const Tensor& x) {
  Tensor y = kernels::map(x, [](auto v) { return v.tanh(); });
  if (should_record(x))
    record("tanh", {x}, y, [y = y.detach()](const Tensor& dy, Gradients& in) {
      in.accumulate(0, kernels::zip(dy, y, [](auto g, auto r) { return g * (1 - r * r); }));
    });
  return y;
}

}  // namespace tg
