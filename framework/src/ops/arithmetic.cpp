// Arithmetic: + - * / with broadcasting, with numbers, negation and powers.
// Backwards are written for equal shapes; BackwardContext::accumulate sums each gradient back
// to its input's shape (see broadcast.cpp) and converts it to the input's dtype.
#include <cmath>

#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// The dtype a division computes in: true division, so integers divide as float32, as in PyTorch.
Dtype division_type(Dtype d) { return is_floating(d) ? d : kFloat32; }

void check_operands(const OpInfo& op, const Tensor& a, const Tensor& b) {
  kernels::check_input(op, a, "the first operand");
  kernels::check_input(op, b, "the second operand");
}

}  // namespace

// y = a + b
// da = dy,  db = dy
Tensor add(const Tensor& a, const Tensor& b) {
  check_operands(op::add, a, b);
  Tensor y = kernels::broadcast_binary("add", a, b, kernels::result_type(a, b), [](auto u, auto v) { return u + v; });
  if (should_record(a, b))
    record(op::add, {a, b}, y, {}, [](BackwardContext& ctx) {
      ctx.accumulate(0, ctx.grad());
      ctx.accumulate(1, ctx.grad());
    });
  return y;
}

// y = a - b
// da = dy,  db = -dy
Tensor sub(const Tensor& a, const Tensor& b) {
  check_operands(op::sub, a, b);
  Tensor y = kernels::broadcast_binary("sub", a, b, kernels::result_type(a, b), [](auto u, auto v) { return u - v; });
  if (should_record(a, b))
    record(op::sub, {a, b}, y, {}, [](BackwardContext& ctx) {
      ctx.accumulate(0, ctx.grad());
      if (ctx.needs(1)) ctx.accumulate(1, -ctx.grad());
    });
  return y;
}

// y = a * b
// da = dy * b,  db = dy * a
Tensor mul(const Tensor& a, const Tensor& b) {
  check_operands(op::mul, a, b);
  Tensor y = kernels::broadcast_binary("mul", a, b, kernels::result_type(a, b), [](auto u, auto v) { return u * v; });
  if (should_record(a, b))
    record(op::mul, {a, b}, y, {saved_for(b, a), saved_for(a, b)}, [](BackwardContext& ctx) {
      if (ctx.needs(0)) ctx.accumulate(0, ctx.grad() * ctx.saved(0));
      if (ctx.needs(1)) ctx.accumulate(1, ctx.grad() * ctx.saved(1));
    });
  return y;
}

// y = a / b
// da = dy / b,  db = -dy * a / b^2
// It saves a and b, as PyTorch does, not y: an in-place write to the result (y = a / b;
// y += 1) then leaves this entry valid.
Tensor div(const Tensor& a, const Tensor& b) {
  check_operands(op::div, a, b);
  Tensor y = kernels::broadcast_binary("div", a, b, division_type(kernels::result_type(a, b)),
                                       [](auto u, auto v) { return u / v; });
  if (should_record(a, b))
    record(op::div, {a, b}, y, {b, saved_for(a, b)}, [](BackwardContext& ctx) {
      if (ctx.needs(0)) ctx.accumulate(0, ctx.grad() / ctx.saved(0));
      if (ctx.needs(1)) ctx.accumulate(1, -(ctx.grad() * ctx.saved(1)) / (ctx.saved(0) * ctx.saved(0)));
    });
  return y;
}

// y = -x
// dx = -dy
Tensor neg(const Tensor& x) {
  kernels::check_input(op::neg, x);
  Tensor y = kernels::scalar_binary(x, 0, x.dtype(), [](auto v, auto) { return -v; });
  if (should_record(x)) record(op::neg, {x}, y, {}, [](BackwardContext& ctx) { ctx.accumulate(0, -ctx.grad()); });
  return y;
}

// y = x^p  (p a constant)
// dx = dy * p * x^(p-1)
// Note: as in PyTorch, p = 0 gives dx = 0 everywhere (also at x = 0, where x^-1 is inf).
// Under create_graph dx = dy * pow(x, p - 1) * p, recorded: d2x = dy p (p - 1) x^(p-2).
Tensor pow(const Tensor& x, double p) {
  kernels::check_input(op::pow, x);
  Tensor y = kernels::map("pow", x, [p](auto v) { return v.pow(static_cast<typename decltype(v)::Scalar>(p)); });
  if (should_record(x))
    record(op::pow, {x}, y, {x}, [p](BackwardContext& ctx) {
      if (ctx.create_graph())
        return ctx.accumulate(0, p == 0 ? zeros_like(ctx.grad()) : ctx.grad() * pow(ctx.saved(0), p - 1) * p);
      ctx.accumulate(0, kernels::zip("pow", ctx.grad(), ctx.saved(0), [p](auto g, auto v) {
                       using T = decltype(v);
                       return p == 0 ? T(0) : g * static_cast<T>(p) * std::pow(v, static_cast<T>(p - 1));
                     }));
    });
  return y;
}

// y = x^2
// dx = 2 x dy   (d2x = 2 dy)
Tensor square(const Tensor& x) {
  kernels::check_input(op::square, x);
  Tensor y = kernels::scalar_binary(x, 0, x.dtype(), [](auto v, auto) { return v * v; });
  if (should_record(x))
    record(op::square, {x}, y, {x}, [](BackwardContext& ctx) {
      if (ctx.create_graph()) return ctx.accumulate(0, ctx.grad() * ctx.saved(0) * 2);
      ctx.accumulate(0, kernels::zip("square", ctx.grad(), ctx.saved(0), [](auto g, auto v) { return 2 * v * g; }));
    });
  return y;
}

// y = 1 / x
// dx = -dy / x^2 = -dy * y^2   (d2x = 2 dy y^3)
Tensor reciprocal(const Tensor& x) {
  kernels::check_input(op::reciprocal, x);
  Tensor y = kernels::map("reciprocal", x, [](auto v) { return v.inverse(); });
  if (should_record(x))
    record(op::reciprocal, {x}, y, {y}, [](BackwardContext& ctx) {
      if (ctx.create_graph()) return ctx.accumulate(0, -ctx.grad() * square(ctx.saved(0)));
      ctx.accumulate(0,
                     kernels::zip("reciprocal", ctx.grad(), ctx.saved(0), [](auto g, auto r) { return -g * r * r; }));
    });
  return y;
}

// ---- with a number ----

// y = x + c
// dx = dy
Tensor add(const Tensor& x, Scalar c) {
  kernels::check_input(op::add_scalar, x);
  Tensor y = kernels::scalar_binary(x, c, kernels::result_type(x, c), [](auto v, auto s) { return v + s; });
  if (should_record(x)) record(op::add_scalar, {x}, y, {}, [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad()); });
  return y;
}

// y = x - c
// dx = dy
Tensor sub(const Tensor& x, Scalar c) {
  kernels::check_input(op::sub_scalar, x);
  Tensor y = kernels::scalar_binary(x, c, kernels::result_type(x, c), [](auto v, auto s) { return v - s; });
  if (should_record(x)) record(op::sub_scalar, {x}, y, {}, [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad()); });
  return y;
}

// y = c - x
// dx = -dy
Tensor rsub(const Tensor& x, Scalar c) {
  kernels::check_input(op::rsub_scalar, x);
  Tensor y = kernels::scalar_binary(x, c, kernels::result_type(x, c), [](auto v, auto s) { return s - v; });
  if (should_record(x))
    record(op::rsub_scalar, {x}, y, {}, [](BackwardContext& ctx) { ctx.accumulate(0, -ctx.grad()); });
  return y;
}

// y = x * c
// dx = dy * c
Tensor mul(const Tensor& x, Scalar c) {
  kernels::check_input(op::mul_scalar, x);
  Tensor y = kernels::scalar_binary(x, c, kernels::result_type(x, c), [](auto v, auto s) { return v * s; });
  if (should_record(x))
    record(op::mul_scalar, {x}, y, {}, [c](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad() * c); });
  return y;
}

// y = x / c
// dx = dy / c
Tensor div(const Tensor& x, Scalar c) {
  kernels::check_input(op::div_scalar, x);
  Tensor y =
      kernels::scalar_binary(x, c, division_type(kernels::result_type(x, c)), [](auto v, auto s) { return v / s; });
  if (should_record(x))
    record(op::div_scalar, {x}, y, {}, [c](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad() / c); });
  return y;
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, Scalar b) { return add(a, b); }
Tensor operator-(const Tensor& a, Scalar b) { return sub(a, b); }
Tensor operator*(const Tensor& a, Scalar b) { return mul(a, b); }
Tensor operator/(const Tensor& a, Scalar b) { return div(a, b); }
Tensor operator+(Scalar a, const Tensor& b) { return add(b, a); }
Tensor operator-(Scalar a, const Tensor& b) { return rsub(b, a); }
Tensor operator*(Scalar a, const Tensor& b) { return mul(b, a); }
// c / x is reciprocal(x) * c, as PyTorch computes it (so that the numbers agree to the bit);
// an integer x divides as float32.
Tensor operator/(Scalar a, const Tensor& b) {
  kernels::check_defined("div", b, "the tensor operand");
  return reciprocal(is_floating(b.dtype()) ? b : b.to(kFloat32)) * a;
}

// y = max(a, b) elementwise, NaN if either is NaN
// da = dy where a > b, dy / 2 where a == b, else 0;  db the other way round (as PyTorch)
Tensor maximum(const Tensor& a, const Tensor& b) {
  check_operands(op::maximum, a, b);
  Tensor y = kernels::broadcast_binary("maximum", a, b, kernels::result_type(a, b),
                                       [](auto u, auto v) { return u > v || u != u ? u : v; });
  if (should_record(a, b))
    record(op::maximum, {a, b}, y, {a, b}, [](BackwardContext& ctx) {
      const Tensor &a = ctx.saved(0), &b = ctx.saved(1);
      Tensor shared = where(a == b, ctx.grad() * 0.5, ctx.grad());
      if (ctx.needs(0)) ctx.accumulate(0, masked_fill(shared, a < b, 0));
      if (ctx.needs(1)) ctx.accumulate(1, masked_fill(shared, a > b, 0));
    });
  return y;
}

// y = min(a, b) elementwise, NaN if either is NaN
// da = dy where a < b, dy / 2 where a == b, else 0;  db the other way round
Tensor minimum(const Tensor& a, const Tensor& b) {
  check_operands(op::minimum, a, b);
  Tensor y = kernels::broadcast_binary("minimum", a, b, kernels::result_type(a, b),
                                       [](auto u, auto v) { return u < v || u != u ? u : v; });
  if (should_record(a, b))
    record(op::minimum, {a, b}, y, {a, b}, [](BackwardContext& ctx) {
      const Tensor &a = ctx.saved(0), &b = ctx.saved(1);
      Tensor shared = where(a == b, ctx.grad() * 0.5, ctx.grad());
      if (ctx.needs(0)) ctx.accumulate(0, masked_fill(shared, a > b, 0));
      if (ctx.needs(1)) ctx.accumulate(1, masked_fill(shared, a < b, 0));
    });
  return y;
}

}  // namespace tg
