// SPDX-License-Identifier: MIT
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

// A tangent term stretched to the output's shape: the tangent of a broadcast operand, when the
// other operand has none to broadcast it against (record_jvp wants the output's shape).
Tensor expanded(const Tensor& t, const Shape& shape) { return t.shape() == shape ? t : expand(t, shape); }

// One operand's term of the tangent of maximum or minimum, from its tangent t: t where that
// operand won, t / 2 at a tie, 0 where it lost (`lost`: a < b for a's term of maximum), with
// the weights of the backward (a NaN passes t on, as it passes dy).
Tensor extremum_term(const Tensor& t, const Tensor& lost, const Tensor& tie) {
  return t.defined() ? where(lost, 0, where(tie, t * 0.5, t)) : Tensor();
}

}  // namespace

// y = a + b
// da = dy,  db = dy
// jvp: y' = a' + b'
Tensor add(const Tensor& a, const Tensor& b) {
  check_operands(op::add, a, b);
  Tensor y = kernels::broadcast_binary("add", a, b, kernels::result_type(a, b), [](auto u, auto v) { return u + v; });
  if (should_record(a, b))
    record(op::add, {a, b}, y, {}, [](BackwardContext& ctx) {
      ctx.accumulate(0, ctx.grad());
      ctx.accumulate(1, ctx.grad());
    });
  if (has_tangent(a, b))
    record_jvp(op::add, y, [&] {
      Tensor ta = tangent(a), tb = tangent(b);
      return ta.defined() && tb.defined() ? ta + tb : expanded(ta.defined() ? ta : tb, y.shape());
    });
  return y;
}

// y = a - b
// da = dy,  db = -dy
// jvp: y' = a' - b'
Tensor sub(const Tensor& a, const Tensor& b) {
  check_operands(op::sub, a, b);
  Tensor y = kernels::broadcast_binary("sub", a, b, kernels::result_type(a, b), [](auto u, auto v) { return u - v; });
  if (should_record(a, b))
    record(op::sub, {a, b}, y, {}, [](BackwardContext& ctx) {
      ctx.accumulate(0, ctx.grad());
      if (ctx.needs(1)) ctx.accumulate(1, -ctx.grad());
    });
  if (has_tangent(a, b))
    record_jvp(op::sub, y, [&] {
      Tensor ta = tangent(a), tb = tangent(b);
      if (!tb.defined()) return expanded(ta, y.shape());
      return ta.defined() ? ta - tb : expanded(-tb, y.shape());
    });
  return y;
}

// y = a * b
// da = dy * b,  db = dy * a
// jvp: y' = a' * b + a * b'
Tensor mul(const Tensor& a, const Tensor& b) {
  check_operands(op::mul, a, b);
  Tensor y = kernels::broadcast_binary("mul", a, b, kernels::result_type(a, b), [](auto u, auto v) { return u * v; });
  if (should_record(a, b))
    record(op::mul, {a, b}, y, {saved_for(b, a), saved_for(a, b)}, [](BackwardContext& ctx) {
      if (ctx.needs(0)) ctx.accumulate(0, ctx.grad() * ctx.saved(0));
      if (ctx.needs(1)) ctx.accumulate(1, ctx.grad() * ctx.saved(1));
    });
  if (has_tangent(a, b))
    record_jvp(op::mul, y, [&] {
      Tensor ta = tangent(a), tb = tangent(b);
      return add_tangents(ta.defined() ? ta * b : Tensor(), tb.defined() ? a * tb : Tensor());
    });
  return y;
}

// y = a / b
// da = dy / b,  db = -dy * a / b^2
// jvp: y' = (a' - y * b') / b
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
  if (has_tangent(a, b))
    record_jvp(op::div, y, [&] {
      Tensor ta = tangent(a), tb = tangent(b);
      if (!tb.defined()) return ta / b;
      return (ta.defined() ? ta - y * tb : -(y * tb)) / b;
    });
  return y;
}

// y = -x
// dx = -dy
// jvp: y' = -x'
Tensor neg(const Tensor& x) {
  kernels::check_input(op::neg, x);
  Tensor y = kernels::scalar_binary(x, 0, x.dtype(), [](auto v, auto) { return -v; });
  if (should_record(x)) record(op::neg, {x}, y, {}, [](BackwardContext& ctx) { ctx.accumulate(0, -ctx.grad()); });
  if (has_tangent(x)) record_jvp(op::neg, y, [&] { return -tangent(x); });
  return y;
}

// y = x^p  (p a constant)
// dx = dy * p * x^(p-1)
// Note: as in PyTorch, p = 0 gives dx = 0 everywhere (also at x = 0, where x^-1 is inf).
// Under create_graph dx = dy * pow(x, p - 1) * p, recorded: d2x = dy p (p - 1) x^(p-2).
// jvp: y' = x' * p * x^(p-1)   (0 for p = 0)
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
  if (has_tangent(x))
    record_jvp(op::pow, y, [&] {
      const Tensor tx = tangent(x);
      return p == 0 ? zeros_like(tx) : tx * pow(x, p - 1) * p;
    });
  return y;
}

// y = x^2
// dx = 2 x dy   (d2x = 2 dy)
// jvp: y' = 2 x x'
Tensor square(const Tensor& x) {
  kernels::check_input(op::square, x);
  Tensor y = kernels::scalar_binary(x, 0, x.dtype(), [](auto v, auto) { return v * v; });
  if (should_record(x))
    record(op::square, {x}, y, {x}, [](BackwardContext& ctx) {
      if (ctx.create_graph()) return ctx.accumulate(0, ctx.grad() * ctx.saved(0) * 2);
      ctx.accumulate(0, kernels::zip("square", ctx.grad(), ctx.saved(0), [](auto g, auto v) { return 2 * v * g; }));
    });
  if (has_tangent(x)) record_jvp(op::square, y, [&] { return tangent(x) * x * 2; });
  return y;
}

// y = 1 / x
// dx = -dy / x^2 = -dy * y^2   (d2x = 2 dy y^3)
// jvp: y' = -x' * y^2
Tensor reciprocal(const Tensor& x) {
  kernels::check_input(op::reciprocal, x);
  Tensor y = kernels::map("reciprocal", x, [](auto v) { return v.inverse(); });
  if (should_record(x))
    record(op::reciprocal, {x}, y, {y}, [](BackwardContext& ctx) {
      if (ctx.create_graph()) return ctx.accumulate(0, -ctx.grad() * square(ctx.saved(0)));
      ctx.accumulate(0,
                     kernels::zip("reciprocal", ctx.grad(), ctx.saved(0), [](auto g, auto r) { return -g * r * r; }));
    });
  if (has_tangent(x)) record_jvp(op::reciprocal, y, [&] { return -tangent(x) * square(y); });
  return y;
}

// ---- with a number ----

// y = x + c
// dx = dy
// jvp: y' = x'
Tensor add(const Tensor& x, Scalar c) {
  kernels::check_input(op::add_scalar, x);
  Tensor y = kernels::scalar_binary(x, c, kernels::result_type(x, c), [](auto v, auto s) { return v + s; });
  if (should_record(x)) record(op::add_scalar, {x}, y, {}, [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad()); });
  if (has_tangent(x)) record_jvp(op::add_scalar, y, [&] { return tangent(x); });
  return y;
}

// y = x - c
// dx = dy
// jvp: y' = x'
Tensor sub(const Tensor& x, Scalar c) {
  kernels::check_input(op::sub_scalar, x);
  Tensor y = kernels::scalar_binary(x, c, kernels::result_type(x, c), [](auto v, auto s) { return v - s; });
  if (should_record(x)) record(op::sub_scalar, {x}, y, {}, [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad()); });
  if (has_tangent(x)) record_jvp(op::sub_scalar, y, [&] { return tangent(x); });
  return y;
}

// y = c - x
// dx = -dy
// jvp: y' = -x'
Tensor rsub(const Tensor& x, Scalar c) {
  kernels::check_input(op::rsub_scalar, x);
  Tensor y = kernels::scalar_binary(x, c, kernels::result_type(x, c), [](auto v, auto s) { return s - v; });
  if (should_record(x))
    record(op::rsub_scalar, {x}, y, {}, [](BackwardContext& ctx) { ctx.accumulate(0, -ctx.grad()); });
  if (has_tangent(x)) record_jvp(op::rsub_scalar, y, [&] { return -tangent(x); });
  return y;
}

// y = x * c
// dx = dy * c
// jvp: y' = x' * c
Tensor mul(const Tensor& x, Scalar c) {
  kernels::check_input(op::mul_scalar, x);
  Tensor y = kernels::scalar_binary(x, c, kernels::result_type(x, c), [](auto v, auto s) { return v * s; });
  if (should_record(x))
    record(op::mul_scalar, {x}, y, {}, [c](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad() * c); });
  if (has_tangent(x)) record_jvp(op::mul_scalar, y, [&] { return tangent(x) * c; });
  return y;
}

// y = x / c
// dx = dy / c
// jvp: y' = x' / c
Tensor div(const Tensor& x, Scalar c) {
  kernels::check_input(op::div_scalar, x);
  Tensor y =
      kernels::scalar_binary(x, c, division_type(kernels::result_type(x, c)), [](auto v, auto s) { return v / s; });
  if (should_record(x))
    record(op::div_scalar, {x}, y, {}, [c](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad() / c); });
  if (has_tangent(x)) record_jvp(op::div_scalar, y, [&] { return tangent(x) / c; });
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
// jvp: y' = a' where a > b, b' where a < b, (a' + b') / 2 where a == b
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
  if (has_tangent(a, b))
    record_jvp(op::maximum, y, [&] {
      Tensor ta = tangent(a), tb = tangent(b), tie = a == b;
      return expanded(add_tangents(extremum_term(ta, a < b, tie), extremum_term(tb, a > b, tie)), y.shape());
    });
  return y;
}

// y = min(a, b) elementwise, NaN if either is NaN
// da = dy where a < b, dy / 2 where a == b, else 0;  db the other way round
// jvp: y' = a' where a < b, b' where a > b, (a' + b') / 2 where a == b
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
  if (has_tangent(a, b))
    record_jvp(op::minimum, y, [&] {
      Tensor ta = tangent(a), tb = tangent(b), tie = a == b;
      return expanded(add_tangents(extremum_term(ta, a > b, tie), extremum_term(tb, a < b, tie)), y.shape());
    });
  return y;
}

}  // namespace tg
