// Arithmetic: + - * / with broadcasting, negation and powers.
// Backwards are written for equal shapes; Gradients::accumulate sums each gradient back
// to its input's shape (see broadcast.cpp).
//
// Note: a closure may capture its inputs as they are, but it captures its own result only
// through detach(): an entry that held its output would keep it alive forever, and the
// tape could never drop the entries of results that were computed and thrown away.
#include <cmath>

#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

// y = a + b
// da = dy,  db = dy
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::broadcast_binary("add", a, b, [](auto u, auto v) { return u + v; });
  if (should_record(a, b))
    record("add", {a, b}, y, [](const Tensor& dy, Gradients& in) {
      in.accumulate(0, dy);
      in.accumulate(1, dy);
    });
  return y;
}

// y = a - b
// da = dy,  db = -dy
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::broadcast_binary("sub", a, b, [](auto u, auto v) { return u - v; });
  if (should_record(a, b))
    record("sub", {a, b}, y, [](const Tensor& dy, Gradients& in) {
      in.accumulate(0, dy);
      if (in.needs(1)) in.accumulate(1, -dy);
    });
  return y;
}

// y = a * b
// da = dy * b,  db = dy * a
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::broadcast_binary("mul", a, b, [](auto u, auto v) { return u * v; });
  if (should_record(a, b))
    record("mul", {a, b}, y, [a = saved_for(a, b), b = saved_for(b, a)](const Tensor& dy, Gradients& in) {
      if (in.needs(0)) in.accumulate(0, dy * b);
      if (in.needs(1)) in.accumulate(1, dy * a);
    });
  return y;
}

// y = a / b
// da = dy / b,  db = -dy * a / b^2 = -dy * y / b
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::broadcast_binary("div", a, b, [](auto u, auto v) { return u / v; });
  if (should_record(a, b))
    record("div", {a, b}, y, [b = save(b), y = saved_for(y.detach(), b)](const Tensor& dy, Gradients& in) {
      if (in.needs(0)) in.accumulate(0, dy / b);
      if (in.needs(1)) in.accumulate(1, -(dy * y) / b);
    });
  return y;
}

// y = -x
// dx = -dy
Tensor neg(const Tensor& x) {
  Tensor y = kernels::map("neg", x, [](auto v) { return -v; });
  if (should_record(x)) record("neg", {x}, y, [](const Tensor& dy, Gradients& in) { in.accumulate(0, -dy); });
  return y;
}

// y = x^p  (p a constant)
// dx = dy * p * x^(p-1)
// Note: as in PyTorch, p = 0 gives dx = 0 everywhere (also at x = 0, where x^-1 is inf).
Tensor pow(const Tensor& x, double p) {
  Tensor y = kernels::map("pow", x, [p](auto v) { return v.pow(static_cast<typename decltype(v)::Scalar>(p)); });
  if (should_record(x))
    record("pow", {x}, y, [x = save(x), p](const Tensor& dy, Gradients& in) {
      in.accumulate(0, kernels::zip(dy, x, [p](auto g, auto v) {
                      using T = decltype(v);
                      return p == 0 ? T(0) : g * static_cast<T>(p) * std::pow(v, static_cast<T>(p - 1));
                    }));
    });
  return y;
}

// y = x^2
// dx = 2 x dy
Tensor square(const Tensor& x) {
  Tensor y = kernels::map("square", x, [](auto v) { return v.square(); });
  if (should_record(x))
    record("square", {x}, y, [x = save(x)](const Tensor& dy, Gradients& in) {
      in.accumulate(0, kernels::zip(dy, x, [](auto g, auto v) { return 2 * v * g; }));
    });
  return y;
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }

// A number next to a tensor is a 0-d tensor of the tensor's dtype, as in PyTorch.
namespace {
Tensor number_like(const char* op, double value, const Tensor& t) {
  kernels::check_defined(op, t, "the tensor operand");
  return scalar(value, {.dtype = t.dtype()});
}
}  // namespace

Tensor operator+(const Tensor& a, double b) { return add(a, number_like("add", b, a)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, number_like("sub", b, a)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, number_like("mul", b, a)); }
Tensor operator/(const Tensor& a, double b) { return div(a, number_like("div", b, a)); }
Tensor operator+(double a, const Tensor& b) { return add(number_like("add", a, b), b); }
Tensor operator-(double a, const Tensor& b) { return sub(number_like("sub", a, b), b); }
Tensor operator*(double a, const Tensor& b) { return mul(number_like("mul", a, b), b); }
Tensor operator/(double a, const Tensor& b) { return div(number_like("div", a, b), b); }

}  // namespace tg
