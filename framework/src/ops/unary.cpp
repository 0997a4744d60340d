// Elementwise functions. Forwards use Eigen's vectorised exp/log/tanh; each backward is
// one line in terms of dy, the input x or the result y, like PyTorch's derivatives.yaml.
// Large tensors are split across threads (elementwise work has no order to keep).
#include "ops/kernels.hpp"
#include "ops/parallel_for.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// y = f(x) for an Eigen array expression f, e.g. [](auto x) { return x.exp(); }, split
// over threads when x is large.
template <class F>
Tensor map(const char* op, const Tensor& x, F f) {
  kernels::check_defined(op, x);
  Tensor y = empty(x.shape(), {.dtype = x.dtype()});
  dispatch(x.dtype(), [&]<class T>() {
    auto vx = kernels::vec<T>(x);
    auto vy = kernels::vec<T>(y);
    kernels::parallel_for(x.numel(), 1, [&](std::int64_t begin, std::int64_t end) {
      vy.segment(begin, end - begin) = f(vx.segment(begin, end - begin));
    });
  });
  return y;
}

// dx[i] = f(dy[i], saved[i]) with a scalar function f: the backward of an elementwise op.
template <class F>
Tensor backward_map(const Tensor& dy, const Tensor& saved_in, F f) {
  Tensor dx = empty(dy.shape(), {.dtype = dy.dtype()});
  Tensor saved = kernels::cast(saved_in, dy.dtype());
  dispatch(dy.dtype(), [&]<class T>() {
    const T* pdy = dy.data<T>();
    const T* ps = saved.data<T>();
    T* pdx = dx.data<T>();
    kernels::parallel_for(dy.numel(), 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) pdx[i] = f(pdy[i], ps[i]);
    });
  });
  return dx;
}

}  // namespace

// y = e^x
// dx = dy * y
Tensor exp(const Tensor& x) {
  Tensor y = map("exp", x, [](auto v) { return v.exp(); });
  if (should_record(x))
    record("exp", {x}, y, [y = save(y.detach())](const Tensor& dy, Gradients& in) {
      in.accumulate(0, backward_map(dy, y, [](auto g, auto r) { return g * r; }));
    });
  return y;
}

// y = ln x
// dx = dy / x
Tensor log(const Tensor& x) {
  Tensor y = map("log", x, [](auto v) { return v.log(); });
  if (should_record(x))
    record("log", {x}, y, [x = save(x)](const Tensor& dy, Gradients& in) {
      in.accumulate(0, backward_map(dy, x, [](auto g, auto v) { return g / v; }));
    });
  return y;
}

// y = max(x, 0)
// dx = dy * [not y <= 0]
// Note: at x = 0 we take the subgradient 0, as PyTorch does. A NaN input stays NaN (Eigen's
// PropagateNaN max, still vectorised: a plain SIMD max returns either operand) and passes
// the gradient through, as PyTorch's threshold_backward does: NaN <= 0 is false.
Tensor relu(const Tensor& x) {
  Tensor y = map("relu", x, [](auto v) {
    using T = typename decltype(v)::Scalar;
    using Plain = typename decltype(v)::PlainObject;
    return v.binaryExpr(Plain::Zero(v.size()), Eigen::internal::scalar_max_op<T, T, Eigen::PropagateNaN>());
  });
  if (should_record(x))
    record("relu", {x}, y, [y = save(y.detach())](const Tensor& dy, Gradients& in) {
      in.accumulate(0, backward_map(dy, y, [](auto g, auto r) { return r <= 0 ? decltype(g)(0) : g; }));
    });
  return y;
}

// y = 1 / (1 + e^-x)
// dx = dy * y * (1 - y)
Tensor sigmoid(const Tensor& x) {
  Tensor y = map("sigmoid", x, [](auto v) { return v.logistic(); });
  if (should_record(x))
    record("sigmoid", {x}, y, [y = save(y.detach())](const Tensor& dy, Gradients& in) {
      in.accumulate(0, backward_map(dy, y, [](auto g, auto r) { return g * r * (1 - r); }));
    });
  return y;
}

// y = tanh x
// dx = dy * (1 - y^2)
Tensor tanh(const Tensor& x) {
  Tensor y = map("tanh", x, [](auto v) { return v.tanh(); });
  if (should_record(x))
    record("tanh", {x}, y, [y = save(y.detach())](const Tensor& dy, Gradients& in) {
      in.accumulate(0, backward_map(dy, y, [](auto g, auto r) { return g * (1 - r * r); }));
    });
  return y;
}

}  // namespace tg
