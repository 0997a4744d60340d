// SPDX-License-Identifier: MIT
// Elementwise functions. Forwards use Eigen's vectorised exp/log/tanh; each backward is
// one line in terms of dy, the input x or the result y, like PyTorch's derivatives.yaml.
// Large tensors are split across threads (elementwise work has no order to keep).
#include <cmath>
#include <numbers>

#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

// y = e^x
// dx = dy * y   (so d2x = dy * y: the saved result carries its history under create_graph)
// jvp: y' = x' * y
Tensor exp(const Tensor& x) {
  kernels::check_input(op::exp, x);
  Tensor y = kernels::map_fn("exp", x, kernels::UnaryFn::exp);
  if (should_record(x))
    record(op::exp, {x}, y, {y}, [](BackwardContext& ctx) {
      if (ctx.create_graph()) return ctx.accumulate(0, ctx.grad() * ctx.saved(0));
      ctx.accumulate(0, kernels::zip("exp", ctx.grad(), ctx.saved(0), [](auto g, auto r) { return g * r; }));
    });
  if (has_tangent(x)) record_jvp(op::exp, y, [&] { return tangent(x) * y; });
  return y;
}

// y = ln x
// dx = dy / x   (d2x = -dy / x^2)
// jvp: y' = x' / x
Tensor log(const Tensor& x) {
  kernels::check_input(op::log, x);
  Tensor y = kernels::map_fn("log", x, kernels::UnaryFn::log);
  if (should_record(x))
    record(op::log, {x}, y, {x}, [](BackwardContext& ctx) {
      if (ctx.create_graph()) return ctx.accumulate(0, ctx.grad() / ctx.saved(0));
      ctx.accumulate(0, kernels::zip("log", ctx.grad(), ctx.saved(0), [](auto g, auto v) { return g / v; }));
    });
  if (has_tangent(x)) record_jvp(op::log, y, [&] { return tangent(x) / x; });
  return y;
}

// y = max(x, 0)
// dx = dy * [not y <= 0]
// Note: at x = 0 we take the subgradient 0, as PyTorch does. A NaN input stays NaN (Eigen's
// PropagateNaN max, still vectorised: a plain SIMD max returns either operand) and passes
// the gradient through, as PyTorch's threshold_backward does: NaN <= 0 is false.
// Under create_graph dx = where(y <= 0, 0, dy): linear in dy, so the second derivative in x
// is 0 (as PyTorch) and the gradient with respect to dy flows.
// jvp: y' = x' * [not y <= 0]
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
      if (ctx.create_graph()) return ctx.accumulate(0, where(ctx.saved(0) <= 0, 0, ctx.grad()));
      ctx.accumulate(0, kernels::zip("relu", ctx.grad(), ctx.saved(0),
                                     [](auto g, auto r) { return r <= 0 ? decltype(g)(0) : g; }));
    });
  if (has_tangent(x)) record_jvp(op::relu, y, [&] { return where(y <= 0, 0, tangent(x)); });
  return y;
}

// y = 1 / (1 + e^-x)
// dx = sigmoid_backward(dy, y) = dy * y * (1 - y)
// jvp: y' = sigmoid_backward(x', y)
// Note: both are one sigmoid_backward op, so that a backward recorded under create_graph, or
// the tangents that forward over reverse computes, are one kernel and one entry each instead
// of the three (1 - y, y * that, dy * that) the formula spelled in ops would record.
Tensor sigmoid(const Tensor& x) {
  kernels::check_input(op::sigmoid, x);
  Tensor y = kernels::map_fn("sigmoid", x, kernels::UnaryFn::sigmoid);
  if (should_record(x))
    record(op::sigmoid, {x}, y, {y},
           [](BackwardContext& ctx) { ctx.accumulate(0, sigmoid_backward(ctx.grad(), ctx.saved(0))); });
  if (has_tangent(x)) record_jvp(op::sigmoid, y, [&] { return sigmoid_backward(tangent(x), y); });
  return y;
}

namespace {

// out = a * b * (1 - 2 c) elementwise, for tensors of one shape: the second derivative of
// sigmoid in sigmoid_backward's backward (a = G, b = dy, c = y) and its JVP. One kernel, or
// the formula in ops when it must record or carry tangents.
Tensor sigmoid_second(const Tensor& a, const Tensor& b_in, const Tensor& c_in) {
  if (should_record(a, b_in, c_in) || has_tangent(a, b_in, c_in)) return a * b_in * (1 - 2 * c_in);
  Tensor b_holder, c_holder;
  const Tensor& b = kernels::cast(b_in, a.dtype(), b_holder);
  const Tensor& c = kernels::cast(c_in, a.dtype(), c_holder);
  Tensor out = empty(a.shape(), {.dtype = a.dtype()});
  dispatch_floating("sigmoid_backward", a.dtype(), [&]<class T>() {
    const T *pa = a.data<T>(), *pb = b.data<T>(), *pc = c.data<T>();
    T* po = out.data<T>();
    kernels::parallel_for(a.numel(), 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) po[i] = pa[i] * pb[i] * (1 - 2 * pc[i]);
    });
  });
  return out;
}

}  // namespace

// z = dy * y * (1 - y)
// d(dy) = G * y * (1 - y) = sigmoid_backward(G, y)
// dy_y  = G * dy * (1 - 2 y)
// jvp: z' = sigmoid_backward(dy', y) + dy * y' * (1 - 2 y)
Tensor sigmoid_backward(const Tensor& dy_in, const Tensor& y_in) {
  kernels::check_input(op::sigmoid_backward, dy_in, "dy");
  kernels::check_input(op::sigmoid_backward, y_in, "y");
  if (dy_in.shape() != y_in.shape())
    fail<ShapeError>(
        "sigmoid_backward: dy {} and y {} differ in shape; pass the gradient of sigmoid's result y, shaped like it",
        dy_in.shape(), y_in.shape());
  const Dtype dtype = kernels::result_type(dy_in, y_in);
  Tensor dy_holder, y_holder;
  const Tensor& dy = kernels::cast(dy_in, dtype, dy_holder);
  const Tensor& y = kernels::cast(y_in, dtype, y_holder);
  Tensor z = kernels::zip("sigmoid_backward", dy, y, [](auto g, auto r) { return g * r * (1 - r); });
  if (should_record(dy_in, y_in))
    record(op::sigmoid_backward, {dy_in, y_in}, z, {saved_for(dy_in, y_in), y_in}, [](BackwardContext& ctx) {
      const Tensor& y = ctx.saved(1);
      if (ctx.needs(0)) ctx.accumulate(0, sigmoid_backward(ctx.grad(), y));
      if (ctx.needs(1)) ctx.accumulate(1, sigmoid_second(ctx.grad(), ctx.saved(0), y));
    });
  if (has_tangent(dy_in, y_in))
    record_jvp(op::sigmoid_backward, z, [&] {
      const Tensor tdy = tangent(dy_in), ty = tangent(y_in);
      if (tdy.defined() && ty.defined() && !should_record(dy, y, tdy, ty)) {  // both terms in one pass
        Tensor out = empty(z.shape(), {.dtype = dtype});
        Tensor tdy_holder, ty_holder;
        const Tensor& a = kernels::cast(tdy, dtype, tdy_holder);
        const Tensor& b = kernels::cast(ty, dtype, ty_holder);
        dispatch_floating("sigmoid_backward", dtype, [&]<class T>() {
          const T *pa = a.data<T>(), *pb = b.data<T>(), *pg = dy.data<T>(), *pr = y.data<T>();
          T* po = out.data<T>();
          kernels::parallel_for(out.numel(), 1, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t i = begin; i < end; ++i)
              po[i] = pa[i] * pr[i] * (1 - pr[i]) + pg[i] * pb[i] * (1 - 2 * pr[i]);
          });
        });
        return out;
      }
      return add_tangents(tdy.defined() ? sigmoid_backward(tdy, y) : Tensor(),
                          ty.defined() ? sigmoid_second(dy, ty, y) : Tensor());
    });
  return z;
}

// y = tanh x
// dx = dy * (1 - y^2)   (d2x = -2 dy y (1 - y^2))
// jvp: y' = x' * (1 - y^2)
Tensor tanh(const Tensor& x) {
  kernels::check_input(op::tanh, x);
  Tensor y = kernels::map_fn("tanh", x, kernels::UnaryFn::tanh);
  if (should_record(x))
    record(op::tanh, {x}, y, {y}, [](BackwardContext& ctx) {
      if (ctx.create_graph()) return ctx.accumulate(0, ctx.grad() * (1 - square(ctx.saved(0))));
      ctx.accumulate(0, kernels::zip("tanh", ctx.grad(), ctx.saved(0), [](auto g, auto r) { return g * (1 - r * r); }));
    });
  if (has_tangent(x)) record_jvp(op::tanh, y, [&] { return tangent(x) * (1 - square(y)); });
  return y;
}

// ---- the activations and functions of sequence models. Their backwards are written with ops
// of the registry (the rule of docs/autograd.md), so that they can be differentiated again.

// y = sign(x): -1, 0 or 1 (NaN stays NaN)
// dx = 0
// jvp: y' = 0
Tensor sign(const Tensor& x) {
  kernels::check_input(op::sign, x);
  Tensor y = kernels::scalar_binary(x, 0, x.dtype(), [](auto v, auto zero) {
    using T = decltype(v);
    return v > zero ? T(1) : v < zero ? T(-1) : v;  // 0 and NaN are returned as they are
  });
  if (should_record(x))
    record(op::sign, {x}, y, {}, [](BackwardContext& ctx) { ctx.accumulate(0, zeros_like(ctx.grad())); });
  if (has_tangent(x)) record_jvp(op::sign, y, [&] { return zeros_like(tangent(x)); });
  return y;
}

// y = |x|
// dx = dy * sign(x)   (0 at x = 0, as PyTorch)
// jvp: y' = x' * sign(x)
Tensor abs(const Tensor& x) {
  kernels::check_input(op::abs, x);
  Tensor y = kernels::scalar_binary(x, 0, x.dtype(), [](auto v, auto zero) { return v < zero ? -v : v; });
  if (should_record(x))
    record(op::abs, {x}, y, {x}, [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad() * sign(ctx.saved(0))); });
  if (has_tangent(x)) record_jvp(op::abs, y, [&] { return tangent(x) * sign(x); });
  return y;
}

// y = sqrt(x)
// dx = dy / (2 y)
// jvp: y' = x' / (2 y)
Tensor sqrt(const Tensor& x) {
  kernels::check_input(op::sqrt, x);
  Tensor y = kernels::map_fn("sqrt", x, kernels::UnaryFn::sqrt);
  if (should_record(x))
    record(op::sqrt, {x}, y, {y}, [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad() / (ctx.saved(0) * 2)); });
  if (has_tangent(x)) record_jvp(op::sqrt, y, [&] { return tangent(x) / (y * 2); });
  return y;
}

// y = 1 / sqrt(x)
// dx = -dy y^3 / 2
// jvp: y' = -x' y^3 / 2
Tensor rsqrt(const Tensor& x) {
  kernels::check_input(op::rsqrt, x);
  Tensor y = kernels::map_fn("rsqrt", x, kernels::UnaryFn::rsqrt);
  if (should_record(x))
    record(op::rsqrt, {x}, y, {y},
           [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad() * pow(ctx.saved(0), 3) * -0.5); });
  if (has_tangent(x)) record_jvp(op::rsqrt, y, [&] { return tangent(x) * pow(y, 3) * -0.5; });
  return y;
}

// y = ln(1 + x)
// dx = dy / (1 + x)
// jvp: y' = x' / (1 + x)
Tensor log1p(const Tensor& x) {
  kernels::check_input(op::log1p, x);
  Tensor y = kernels::map_fn("log1p", x, kernels::UnaryFn::log1p);
  if (should_record(x))
    record(op::log1p, {x}, y, {x}, [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad() / (ctx.saved(0) + 1)); });
  if (has_tangent(x)) record_jvp(op::log1p, y, [&] { return tangent(x) / (x + 1); });
  return y;
}

namespace {
// erf in float32, in SIMD registers: the odd 13/8-degree rational approximation of Eigen 3.4's
// generic_fast_erf_float (within a few ulp on [-4, 4]; erf is +-1 in float32 outside), which
// Eigen/Core does not expose. std::erf one element at a time was a fifth of a small GPT's step.
template <class T>
T erf_rational(const T& a) {
  using namespace Eigen::internal;
  const T x = pmax(pmin(a, pset1<T>(4.f)), pset1<T>(-4.f));
  const T x2 = pmul(x, x);
  T p = pmadd(x2, pset1<T>(-2.72614225801306e-10f), pset1<T>(2.77068142495902e-08f));
  p = pmadd(x2, p, pset1<T>(-2.10102402082508e-06f));
  p = pmadd(x2, p, pset1<T>(-5.69250639462346e-05f));
  p = pmadd(x2, p, pset1<T>(-7.34990630326855e-04f));
  p = pmadd(x2, p, pset1<T>(-2.95459980854025e-03f));
  p = pmadd(x2, p, pset1<T>(-1.60960333262415e-02f));
  p = pmul(x, p);
  T q = pmadd(x2, pset1<T>(-1.45660718464996e-05f), pset1<T>(-2.13374055278905e-04f));
  q = pmadd(x2, q, pset1<T>(-1.68282697438203e-03f));
  q = pmadd(x2, q, pset1<T>(-7.37332916720468e-03f));
  q = pmadd(x2, q, pset1<T>(-1.42647390514189e-02f));
  return pdiv(p, q);
}
template <class Scalar>
struct ErfOp {
  Scalar operator()(Scalar x) const {
    if constexpr (std::is_same_v<Scalar, float>)
      return erf_rational(x);
    else
      return std::erf(x);  // float64: the library's, to the last bit
  }
  template <class Packet>
  Packet packetOp(const Packet& x) const {  // float32 only (functor_traits below)
    return erf_rational(x);
  }
};
// erf(v) for an Eigen array of float (vectorised) or double (std::erf).
template <class V>
auto erf_of(const V& v) {
  return v.unaryExpr(ErfOp<typename V::Scalar>());
}
}  // namespace
}  // namespace tg

template <class Scalar>
struct Eigen::internal::functor_traits<tg::ErfOp<Scalar>> {
  enum { Cost = 30 * Eigen::NumTraits<Scalar>::MulCost, PacketAccess = std::is_same_v<Scalar, float> };
};

namespace tg {

// y = erf(x) = 2 / sqrt(pi) * integral_0^x e^(-t^2) dt
// dx = dy * 2 / sqrt(pi) * e^(-x^2)
// jvp: y' = x' * 2 / sqrt(pi) * e^(-x^2)
Tensor erf(const Tensor& x) {
  kernels::check_input(op::erf, x);
  Tensor y = kernels::map("erf", x, [](auto v) { return erf_of(v); });
  if (should_record(x))
    record(op::erf, {x}, y, {x}, [](BackwardContext& ctx) {
      ctx.accumulate(0, ctx.grad() * exp(-square(ctx.saved(0))) * std::numbers::inv_sqrtpi * 2);
    });
  if (has_tangent(x))
    record_jvp(op::erf, y, [&] { return tangent(x) * exp(-square(x)) * (std::numbers::inv_sqrtpi * 2); });
  return y;
}

namespace {
constexpr double kBeta = std::numbers::sqrt2 * std::numbers::inv_sqrtpi;  // sqrt(2 / pi)
constexpr double kKappa = 0.044715;

// dy/dx of gelu (below), with registry ops, for its backward and its JVP rule.
Tensor gelu_derivative(const Tensor& v, bool tanh_form) {
  if (tanh_form) {
    Tensor t = tanh((v + v * square(v) * kKappa) * kBeta);
    Tensor right = v * (1 - square(t)) * (square(v) * (3 * kKappa) + 1) * (kBeta / 2);
    return (t + 1) * 0.5 + right;
  }
  Tensor cdf = (erf(v * (std::numbers::sqrt2 / 2)) + 1) * 0.5;
  Tensor pdf = exp(square(v) * -0.5) * (std::numbers::inv_sqrtpi / std::numbers::sqrt2);
  return cdf + v * pdf;
}
}  // namespace

// Exact:  y = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2
//         dx = dy (Phi(x) + x phi(x)),  phi(x) = e^(-x^2 / 2) / sqrt(2 pi)
// "tanh": y = x (1 + t) / 2,  t = tanh(u),  u = sqrt(2 / pi) (x + 0.044715 x^3)
//         dx = dy ((1 + t) / 2 + x (1 - t^2) sqrt(2 / pi) (1 + 3 * 0.044715 x^2) / 2)
// jvp:   y' = x' * dy/dx (the backward's factor, gelu_derivative)
Tensor gelu(const Tensor& x, std::string_view approximate) {
  kernels::check_input(op::gelu, x);
  const bool tanh_form = approximate == "tanh";
  if (!tanh_form && approximate != "none")
    fail<ValueError>("gelu: approximate must be \"none\" (the exact form, with erf) or \"tanh\", got \"{}\"",
                     approximate);
  Tensor y = tanh_form ? kernels::map("gelu", x,
                                      [](auto v) {
                                        using T = typename decltype(v)::Scalar;
                                        return T(0.5) * v * (T(1) + (T(kBeta) * (v + T(kKappa) * v.cube())).tanh());
                                      })
                       : kernels::map("gelu", x, [](auto v) {
                           using T = typename decltype(v)::Scalar;
                           return T(0.5) * v * (T(1) + erf_of(v * T(std::numbers::sqrt2 / 2)));
                         });
  if (should_record(x))
    record(op::gelu, {x}, y, {x}, [tanh_form](BackwardContext& ctx) {
      ctx.accumulate(0, ctx.grad() * gelu_derivative(ctx.saved(0), tanh_form));
    });
  if (has_tangent(x)) record_jvp(op::gelu, y, [&] { return tangent(x) * gelu_derivative(x, tanh_form); });
  return y;
}

// y = x where x > 0, else negative_slope * x
// dx = dy where x > 0, else negative_slope * dy
// jvp: y' = x' where x > 0, else negative_slope * x'
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  kernels::check_input(op::leaky_relu, x);
  Tensor y = kernels::map("leaky_relu", x, [negative_slope](auto v) {
    using T = typename decltype(v)::Scalar;
    return (v > T(0)).select(v, v * T(negative_slope));
  });
  if (should_record(x))
    record(op::leaky_relu, {x}, y, {x}, [negative_slope](BackwardContext& ctx) {
      ctx.accumulate(0, where(ctx.saved(0) > 0, ctx.grad(), ctx.grad() * negative_slope));
    });
  if (has_tangent(x))
    record_jvp(op::leaky_relu, y, [&] { return where(x > 0, tangent(x), tangent(x) * negative_slope); });
  return y;
}

// y = x sigmoid(x)
// dx = dy s (1 + x (1 - s)),  s = sigmoid(x)
// jvp: y' = x' s (1 + x (1 - s)),  s = sigmoid(x)
Tensor silu(const Tensor& x) {
  kernels::check_input(op::silu, x);
  Tensor y = kernels::map_fn("silu", x, kernels::UnaryFn::silu);
  if (should_record(x))
    record(op::silu, {x}, y, {x}, [](BackwardContext& ctx) {
      const Tensor& v = ctx.saved(0);
      Tensor s = sigmoid(v);
      ctx.accumulate(0, ctx.grad() * s * (v * (1 - s) + 1));
    });
  if (has_tangent(x))
    record_jvp(op::silu, y, [&] {
      Tensor s = sigmoid(x);
      return tangent(x) * s * (x * (1 - s) + 1);
    });
  return y;
}

// y = ln(1 + e^(beta x)) / beta, computed as (max(bx, 0) + ln(1 + e^-|bx|)) / beta with
//     bx = beta x, so that e^bx never overflows; y = x where bx > threshold (as PyTorch)
// dx = dy * sigmoid(bx), and dx = dy where bx > threshold
// Note: it saves x, not y: sigmoid(bx) = 1 - e^(-beta y) loses all precision when y is tiny
// (x very negative), while sigmoid(bx) itself stays accurate for every x.
// jvp: y' = x' * sigmoid(beta x), and x' where beta x > threshold
Tensor softplus(const Tensor& x, double beta, double threshold) {
  kernels::check_input(op::softplus, x);
  if (!std::isfinite(beta) || beta == 0)
    fail<ValueError>("softplus: beta must be finite and non-zero, got {}; the default is 1", beta);
  if (std::isnan(threshold)) fail<ValueError>("softplus: threshold is NaN; the default is 20");
  Tensor y = kernels::map("softplus", x, [beta, threshold](auto v) {
    using T = typename decltype(v)::Scalar;
    // Note: an expression, not a local array: map evaluates it after this lambda returns.
    auto bx = v * T(beta);
    return (bx > T(threshold)).select(v, (bx.max(T(0)) + (-bx.abs()).exp().log1p()) / T(beta));
  });
  if (should_record(x))
    record(op::softplus, {x}, y, {x}, [beta, threshold](BackwardContext& ctx) {
      Tensor bx = ctx.saved(0) * beta;
      ctx.accumulate(0, where(bx > threshold, ctx.grad(), ctx.grad() * sigmoid(bx)));
    });
  if (has_tangent(x))
    record_jvp(op::softplus, y, [&] {
      Tensor bx = x * beta;
      return where(bx > threshold, tangent(x), tangent(x) * sigmoid(bx));
    });
  return y;
}

// y = min(max(x, lo), hi)   (NaN stays NaN)
// dx = dy where lo <= x <= hi, else 0
// jvp: y' = x' where lo <= x <= hi, else 0
Tensor clamp(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  kernels::check_input(op::clamp, x);
  if (!lo && !hi) fail<ValueError>("clamp: give min, max or both; with neither it would return x unchanged");
  for (const auto& bound : {lo, hi})
    if (bound && bound->is_floating() && std::isnan(bound->to_double()))
      fail<ValueError>("clamp: a bound is NaN; give numbers, or std::nullopt for no bound");
  Dtype compute = x.dtype();
  if (lo) compute = promote_types(compute, kernels::result_type(x, *lo));
  if (hi) compute = promote_types(compute, kernels::result_type(x, *hi));
  Tensor holder;
  const Tensor& xc = kernels::cast(x, compute, holder);
  Tensor y = empty(x.shape(), {.dtype = compute});
  dispatch(compute, [&]<class T>() {
    const T* px = xc.data<T>();
    T* py = y.data<T>();
    const bool has_lo = lo.has_value(), has_hi = hi.has_value();
    const T l = has_lo ? lo->to<T>() : T(0), h = has_hi ? hi->to<T>() : T(0);
    for (std::int64_t i = 0, n = x.numel(); i < n; ++i) {
      T v = px[i];
      if (has_lo && v < l) v = l;  // NaN fails both tests and stays
      if (has_hi && v > h) v = h;
      py[i] = v;
    }
  });
  if (should_record(x))
    record(op::clamp, {x}, y, {x}, [lo, hi](BackwardContext& ctx) {
      const Tensor& v = ctx.saved(0);
      Tensor inside = lo && hi ? (v >= *lo) * (v <= *hi) : lo ? v >= *lo : v <= *hi;
      ctx.accumulate(0, where(inside, ctx.grad(), 0));
    });
  if (has_tangent(x))
    record_jvp(op::clamp, y, [&] {
      Tensor inside = lo && hi ? (x >= *lo) * (x <= *hi) : lo ? x >= *lo : x <= *hi;
      return where(inside, tangent(x), 0);
    });
  return y;
}

}  // namespace tg
