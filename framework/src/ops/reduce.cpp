// SPDX-License-Identifier: MIT
// Reductions: sum and mean, over all elements or along one dim; logsumexp, var, std, cumsum, prod.
#include <cmath>
#include <limits>

#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// The shape of x reduced along `dim`: size 1 there if keepdim, else the dim removed.
Shape reduced_shape(const Shape& shape, int dim, bool keepdim) {
  if (!keepdim) return shape.without(dim);
  Shape out = shape;
  out[dim] = 1;
  return out;
}

// The dtype of a sum: integers and bools add up as int64, as in PyTorch.
Dtype sum_type(Dtype d) { return is_floating(d) ? d : kInt64; }

// x viewed as [outer, n, inner] and summed over n, the middle dim.
Tensor sum_along(const Tensor& x_in, int dim, bool keepdim) {
  Tensor holder;
  const Tensor& x = kernels::cast(x_in, sum_type(x_in.dtype()), holder);
  Tensor y = zeros(reduced_shape(x.shape(), dim, keepdim), {.dtype = x.dtype()});
  std::int64_t n = x.dim() == 0 ? 1 : x.shape()[dim];
  std::int64_t inner = 1;
  for (int d = dim + 1; d < x.dim(); ++d) inner *= x.shape()[d];
  std::int64_t outer = n * inner == 0 ? 0 : x.numel() / (n * inner);
  dispatch_numeric("sum", x.dtype(), [&]<class T>() {
    if (inner == 1 && outer > 0) {  // the last dim: [outer, n] -> [outer, 1], one pass over the rows
      kernels::mat<T>(y, outer, 1) = kernels::mat<T>(x, outer, n).rowwise().sum();
      return;
    }
    for (std::int64_t o = 0; o < outer; ++o)  // [n, inner] -> [1, inner]
      kernels::mat<T>(y, 1, inner, o * inner) = kernels::mat<T>(x, n, inner, o * n * inner).colwise().sum();
  });
  return y;
}

}  // namespace

// y = sum_i x_i
// dx_i = dy
// jvp: y' = sum(x')
Tensor sum(const Tensor& x_in) {
  kernels::check_input(op::sum, x_in);
  Tensor holder;
  const Tensor& x = kernels::cast(x_in, sum_type(x_in.dtype()), holder);
  Tensor y = empty({}, {.dtype = x.dtype()});
  dispatch_numeric("sum", x.dtype(), [&]<class T>() { y.data<T>()[0] = kernels::vec<T>(x).sum(); });
  if (should_record(x_in))
    record(op::sum, {x_in}, y, {},
           [](BackwardContext& ctx) { ctx.accumulate(0, expand(ctx.grad(), ctx.input_shape(0))); });
  if (has_tangent(x_in)) record_jvp(op::sum, y, [&] { return sum(tangent(x_in)); });
  return y;
}

// y[..., 1, ...] = sum_k x[..., k, ...]   (the 1 is removed unless keepdim)
// dx[..., k, ...] = dy[..., 1, ...]        (dy broadcast back along dim)
// jvp: y' = sum(x', dim, keepdim)
Tensor sum(const Tensor& x, int dim, bool keepdim) {
  kernels::check_input(op::sum, x);
  dim = normalize_dim("sum", dim, x.dim());
  Tensor y = sum_along(x, dim, keepdim);
  if (should_record(x))
    record(op::sum, {x}, y, {}, [dim](BackwardContext& ctx) {
      const Shape& shape = ctx.input_shape(0);
      ctx.accumulate(0, expand(reshape(ctx.grad(), reduced_shape(shape, dim, true)), shape));
    });
  if (has_tangent(x)) record_jvp(op::sum, y, [&] { return sum(tangent(x), dim, keepdim); });
  return y;
}

// y = (1/n) sum_i x_i
// dx_i = dy / n
// jvp: y' = mean(x')
// Note: an empty x gives 0 / 0 = NaN, as torch.mean does, and is still recorded, so that
// backward() reaches x with its (empty) gradient instead of failing for want of an entry.
Tensor mean(const Tensor& x) {
  kernels::check_input(op::mean, x);
  Tensor y = sum(x.detach()) / static_cast<double>(x.numel());
  if (should_record(x))
    record(op::mean, {x}, y, {}, [](BackwardContext& ctx) {
      const Shape& shape = ctx.input_shape(0);
      ctx.accumulate(0, expand(ctx.grad() / static_cast<double>(shape.numel()), shape));
    });
  if (has_tangent(x)) record_jvp(op::mean, y, [&] { return mean(tangent(x)); });
  return y;
}

// y[..., 1, ...] = (1/n) sum_k x[..., k, ...]
// dx[..., k, ...] = dy[..., 1, ...] / n
// jvp: y' = mean(x', dim, keepdim)
Tensor mean(const Tensor& x, int dim, bool keepdim) {
  kernels::check_input(op::mean, x);
  dim = normalize_dim("mean", dim, x.dim());
  double n = static_cast<double>(x.dim() == 0 ? 1 : x.shape()[dim]);
  Tensor y = sum_along(x, dim, keepdim) / n;
  if (should_record(x))
    record(op::mean, {x}, y, {}, [dim, n](BackwardContext& ctx) {
      const Shape& shape = ctx.input_shape(0);
      ctx.accumulate(0, expand(reshape(ctx.grad(), reduced_shape(shape, dim, true)) / n, shape));
    });
  if (has_tangent(x)) record_jvp(op::mean, y, [&] { return mean(tangent(x), dim, keepdim); });
  return y;
}

// ---- logsumexp, var, std, cumsum ----

namespace {

// dy of a reduction along dim, with dim put back (size 1) when it was removed.
Tensor kept(const Tensor& dy, int dim, bool keepdim) { return keepdim ? dy : unsqueeze(dy, dim); }

// What var and std keep for their backward: 16 bytes, inline.
struct Spread {
  int dim;
  bool keepdim, all;
  double divisor;
};

// var(x) along dim (all = every element), with the divisor n - correction; also returns the
// mean, with dim kept, which the backward needs.
Tensor variance(const OpInfo& op, const Tensor& x, int dim, bool all, bool unbiased, bool keepdim, double& divisor,
                Tensor& mean_kept) {
  kernels::check_input(op, x);
  Tensor flat = all ? reshape(x.detach(), {1, x.numel()}) : x.detach();
  const int d = all ? 1 : normalize_dim(op.name, dim, x.dim());
  const double n = static_cast<double>(all ? x.numel() : x.dim() == 0 ? 1 : x.shape()[d]);
  divisor = n - (unbiased ? 1 : 0);
  mean_kept = mean(flat, d, true);
  Tensor y = sum(square(flat - mean_kept), d, keepdim) / divisor;
  if (all) {
    Shape ones;
    for (int k = 0; keepdim && k < x.dim(); ++k) ones.push_back(1);
    y = reshape(y, ones);
    mean_kept = mean(x.detach());
  }
  return y.detach();
}

}  // namespace

// y = m + ln(sum_i e^(x_i - m)),  m = max_i x_i (0 where it is infinite, as PyTorch)
// dx = dy * e^(x - y)   (the softmax of x along dim)
// jvp: y' = sum(x' * e^(x - y), dim, keepdim)
Tensor logsumexp(const Tensor& x, int dim, bool keepdim) {
  kernels::check_input(op::logsumexp, x);
  dim = x.dim() == 0 ? 0 : normalize_dim("logsumexp", dim, x.dim());
  const kernels::Around a = x.dim() == 0 ? kernels::Around{} : kernels::around(x.shape(), dim);
  Shape kept_shape = x.dim() == 0 ? Shape{} : reduced_shape(x.shape(), dim, true);
  Tensor y_kept = empty(kept_shape, {.dtype = x.dtype()});
  dispatch_floating("logsumexp", x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y_kept.data<T>();
    for (std::int64_t o = 0; o < a.outer; ++o)
      for (std::int64_t k = 0; k < a.inner; ++k) {
        const T* base = px + o * a.n * a.inner + k;
        T m = -std::numeric_limits<T>::infinity();
        for (std::int64_t j = 0; j < a.n; ++j) m = std::max(m, base[j * a.inner]);
        if (std::isinf(m)) m = 0;  // all -inf gives -inf, a +inf gives +inf, through the log below
        T total = 0;
        for (std::int64_t j = 0; j < a.n; ++j) total += std::exp(base[j * a.inner] - m);
        py[o * a.inner + k] = std::log(total) + m;
      }
  });
  Tensor y = keepdim || x.dim() == 0 ? y_kept : squeeze(y_kept, dim).detach();
  if (should_record(x))
    record(op::logsumexp, {x}, y, {x, y}, [dim, keepdim](BackwardContext& ctx) {
      const Tensor& v = ctx.saved(0);
      const bool scalar_in = v.dim() == 0;
      ctx.accumulate(
          0, kept(ctx.grad(), dim, keepdim || scalar_in) * exp(v - kept(ctx.saved(1), dim, keepdim || scalar_in)));
    });
  if (has_tangent(x))
    record_jvp(op::logsumexp, y, [&] {
      if (x.dim() == 0) return tangent(x);  // y = x
      return sum(tangent(x) * exp(x - kept(y, dim, keepdim)), dim, keepdim);
    });
  return y;
}

// y = sum_i (x_i - mean)^2 / (n - c),  c = 1 if unbiased else 0
// dx = dy * 2 (x - mean) / (n - c)
// Note: the saved mean is detached (computed without recording). Under create_graph it is
// computed again from x, recorded, since the second derivative goes through it:
// d2x_i/dx_j = dy * 2 (delta_ij - 1/n) / (n - c).
// jvp: y' = sum(2 (x - mean) x') / (n - c)   (the mean recorded when x requires grad, as above)
Tensor var(const Tensor& x, int dim, bool unbiased, bool keepdim) {
  double divisor = 0;
  Tensor mean_kept;
  Tensor y = variance(op::var, x, dim, false, unbiased, keepdim, divisor, mean_kept);
  if (should_record(x))
    record(op::var, {x}, y, {x, mean_kept},
           [s = Spread{normalize_dim("var", dim, x.dim()), keepdim, false, divisor}](BackwardContext& ctx) {
             const Tensor& v = ctx.saved(0);
             const Tensor m = ctx.create_graph() ? mean(v, s.dim, true) : ctx.saved(1);
             ctx.accumulate(0, kept(ctx.grad(), s.dim, s.keepdim) * (v - m) * (2 / s.divisor));
           });
  if (has_tangent(x))
    record_jvp(op::var, y, [&] {
      const int d = normalize_dim("var", dim, x.dim());
      const Tensor m = should_record(x) ? mean(x, d, true) : mean_kept;
      return sum((x - m) * tangent(x), d, keepdim) * (2 / divisor);
    });
  return y;
}

Tensor var(const Tensor& x, bool unbiased) {
  double divisor = 0;
  Tensor mean_all;
  Tensor y = variance(op::var, x, 0, true, unbiased, false, divisor, mean_all);
  if (should_record(x))
    record(op::var, {x}, y, {x, mean_all}, [divisor](BackwardContext& ctx) {
      const Tensor& v = ctx.saved(0);
      const Tensor m = ctx.create_graph() ? mean(v) : ctx.saved(1);
      ctx.accumulate(0, ctx.grad() * (v - m) * (2 / divisor));
    });
  if (has_tangent(x))
    record_jvp(op::var, y, [&] {
      const Tensor m = should_record(x) ? mean(x) : mean_all;
      return sum((x - m) * tangent(x)) * (2 / divisor);
    });
  return y;
}

// y = sqrt(var(x))
// dx = dy * (x - mean) / ((n - c) y)
// (under create_graph the mean is computed again, recorded, as in var; y is the entry's own
// output, with its history)
// jvp: y' = sum((x - mean) x') / ((n - c) y)
Tensor std(const Tensor& x, int dim, bool unbiased, bool keepdim) {
  double divisor = 0;
  Tensor mean_kept;
  Tensor y = sqrt(variance(op::std, x, dim, false, unbiased, keepdim, divisor, mean_kept)).detach();
  if (should_record(x))
    record(op::std, {x}, y, {x, mean_kept, y},
           [s = Spread{normalize_dim("std", dim, x.dim()), keepdim, false, divisor}](BackwardContext& ctx) {
             const Tensor& v = ctx.saved(0);
             const Tensor m = ctx.create_graph() ? mean(v, s.dim, true) : ctx.saved(1);
             ctx.accumulate(
                 0, kept(ctx.grad(), s.dim, s.keepdim) * (v - m) / (kept(ctx.saved(2), s.dim, s.keepdim) * s.divisor));
           });
  if (has_tangent(x))
    record_jvp(op::std, y, [&] {
      const int d = normalize_dim("std", dim, x.dim());
      const Tensor m = should_record(x) ? mean(x, d, true) : mean_kept;
      return sum((x - m) * tangent(x), d, keepdim) / (y * divisor);
    });
  return y;
}

Tensor std(const Tensor& x, bool unbiased) {
  double divisor = 0;
  Tensor mean_all;
  Tensor y = sqrt(variance(op::std, x, 0, true, unbiased, false, divisor, mean_all)).detach();
  if (should_record(x))
    record(op::std, {x}, y, {x, mean_all, y}, [divisor](BackwardContext& ctx) {
      const Tensor& v = ctx.saved(0);
      const Tensor m = ctx.create_graph() ? mean(v) : ctx.saved(1);
      ctx.accumulate(0, ctx.grad() * (v - m) / (ctx.saved(2) * divisor));
    });
  if (has_tangent(x))
    record_jvp(op::std, y, [&] {
      const Tensor m = should_record(x) ? mean(x) : mean_all;
      return sum((x - m) * tangent(x)) / (y * divisor);
    });
  return y;
}

// y_i = sum_{j <= i} x_j along dim (integers and bools add up as int64, as PyTorch)
// dx = flip(cumsum(flip(dy)))   (each x_j reaches every y_i with i >= j)
// jvp: y' = cumsum(x', dim)
Tensor cumsum(const Tensor& x_in, int dim) {
  kernels::check_input(op::cumsum, x_in);
  Tensor holder;
  const Tensor& x = kernels::cast(x_in, sum_type(x_in.dtype()), holder);
  dim = x.dim() == 0 ? 0 : normalize_dim("cumsum", dim, x.dim());
  const kernels::Around a = x.dim() == 0 ? kernels::Around{} : kernels::around(x.shape(), dim);
  Tensor y = empty(x.shape(), {.dtype = x.dtype()});
  dispatch_numeric("cumsum", x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (std::int64_t o = 0; o < a.outer; ++o)
      for (std::int64_t k = 0; k < a.inner; ++k) {
        T total = 0;
        for (std::int64_t j = 0; j < a.n; ++j) {
          const std::int64_t at = (o * a.n + j) * a.inner + k;
          total += px[at];
          py[at] = total;
        }
      }
  });
  if (should_record(x_in))
    record(op::cumsum, {x_in}, y, {}, [dim](BackwardContext& ctx) {
      const Tensor& g = ctx.grad();
      if (g.dim() == 0) return ctx.accumulate(0, g);
      ctx.accumulate(0, flip(cumsum(flip(g, {dim}), dim), {dim}));
    });
  if (has_tangent(x_in)) record_jvp(op::cumsum, y, [&] { return cumsum(tangent(x_in), dim); });
  return y;
}

// ---- prod ----

namespace {

// x viewed as [outer, n, inner]: y[o, i] = prod_k x[o, k, i], in x's dtype (integers and bools
// as int64, as PyTorch).
Tensor prod_along(const Tensor& x, const kernels::Around& a, const Shape& out_shape) {
  Tensor y = empty(out_shape, {.dtype = x.dtype()});
  dispatch_numeric("prod", x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (std::int64_t o = 0; o < a.outer; ++o)
      for (std::int64_t i = 0; i < a.inner; ++i) {
        T p = 1;
        for (std::int64_t k = 0; k < a.n; ++k) p *= px[(o * a.n + k) * a.inner + i];
        py[o * a.inner + i] = p;
      }
  });
  return y;
}

// dx[o, k, i] = dy[o, i] * prod_{j != k} x[o, j, i]: the product of the others, taken as a
// running product from the left times one from the right, never by dividing y by x. So a
// line with one zero sends the product of the others to the zero and 0 elsewhere, and a
// line with two zeros sends 0 everywhere: PyTorch's gradient, without its special cases.
Tensor prod_backward(const Tensor& x, const Tensor& dy_in, const kernels::Around& a) {
  Tensor holder;
  const Tensor& dy = kernels::cast(dy_in, x.dtype(), holder);
  Tensor dx = empty(x.shape(), {.dtype = x.dtype()});
  dispatch_floating("prod", x.dtype(), [&]<class T>() {
    const T *px = x.data<T>(), *pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    for (std::int64_t o = 0; o < a.outer; ++o)
      for (std::int64_t i = 0; i < a.inner; ++i) {
        const std::int64_t first = o * a.n * a.inner + i;
        T left = 1;
        for (std::int64_t k = 0; k < a.n; ++k) {  // dx <- product of the elements before k
          pdx[first + k * a.inner] = left;
          left *= px[first + k * a.inner];
        }
        T right = pdy[o * a.inner + i];
        for (std::int64_t k = a.n - 1; k >= 0; --k) {  // times dy and the product of those after k
          pdx[first + k * a.inner] *= right;
          right *= px[first + k * a.inner];
        }
      }
  });
  return dx;
}

// prod_backward's product of the others, with registry ops, for a backward with create_graph:
// x (n along dim) stretched to [..., n, n, ...] by a new dim k before dim, the diagonal k == j
// set to 1, and multiplied along j. O(n^2), only when the backward records itself; prod's own
// backward then differentiates it again (d2x_i/dx_j = dy prod_{l != i, j} x_l for i != j, 0 on
// the diagonal), zeros included.
Tensor prod_of_others(const Tensor& x, int dim) {
  const std::int64_t n = x.shape()[dim];
  Shape wide, diagonal_shape{n, n};
  for (int d = 0; d < x.dim(); ++d) {
    if (d == dim) wide.push_back(n);
    wide.push_back(x.shape()[d]);
    if (d > dim) diagonal_shape.push_back(1);
  }
  Tensor i = arange(static_cast<double>(n), {.dtype = kInt64});
  Tensor diagonal = reshape(reshape(i, {n, 1}) == reshape(i, {1, n}), diagonal_shape);
  return prod(where(diagonal, 1, expand(unsqueeze(x, dim), wide)), dim + 1);
}

bool has_zero(const Tensor& x) {
  bool zero = false;
  dispatch_floating("prod", x.dtype(), [&]<class T>() {
    const T* p = x.data<T>();
    for (std::int64_t i = 0, n = x.numel(); i < n && !zero; ++i) zero = p[i] == T(0);
  });
  return zero;
}

// The tangent of prod along dim (y_kept: prod's output with dim kept): sum(x' * (product of the
// others), dim), the product of the others as y / x, recorded, when x has no zero, and by
// prod_of_others otherwise, so that zeros get what the backward gives them.
Tensor prod_jvp(const Tensor& x, const Tensor& tx, const Tensor& y_kept, int dim, bool keepdim) {
  return sum(tx * (has_zero(x) ? prod_of_others(x, dim) : y_kept / x), dim, keepdim);
}

}  // namespace

// y = prod_i x_i
// dx_i = dy prod_{j != i} x_j
// jvp: y' = sum(x' * prod_{j != i} x_j)   (y / x_i when no x_j is zero)
Tensor prod(const Tensor& x_in) {
  kernels::check_input(op::prod, x_in);
  Tensor holder;
  const Tensor& x = kernels::cast(x_in, sum_type(x_in.dtype()), holder);
  const kernels::Around a{1, x.numel(), 1};
  Tensor y = prod_along(x, a, Shape{});
  if (should_record(x_in))
    record(op::prod, {x_in}, y, {x_in}, [](BackwardContext& ctx) {
      const Tensor& x = ctx.saved(0);
      if (ctx.create_graph())
        return ctx.accumulate(0, ctx.grad() * reshape(prod_of_others(reshape(x, {x.numel()}), 0), x.shape()));
      ctx.accumulate(0, prod_backward(x, ctx.grad(), kernels::Around{1, x.numel(), 1}));
    });
  if (has_tangent(x_in))
    record_jvp(op::prod, y, [&] {
      const Tensor tx = tangent(x_in);
      if (!has_zero(x_in)) return sum(tx * (y / x_in));
      return sum(tx * reshape(prod_of_others(reshape(x_in, {x_in.numel()}), 0), x_in.shape()));
    });
  return y;
}

// y[..., 1, ...] = prod_k x[..., k, ...]   (the 1 removed unless keepdim)
// dx[..., k, ...] = dy[..., 1, ...] prod_{j != k} x[..., j, ...]
// jvp: y' = sum(x' * prod_{j != k} x[..., j, ...], dim, keepdim)   (y / x when no x is zero)
Tensor prod(const Tensor& x_in, int dim, bool keepdim) {
  kernels::check_input(op::prod, x_in);
  Tensor holder;
  const Tensor& x = kernels::cast(x_in, sum_type(x_in.dtype()), holder);
  dim = x.dim() == 0 ? 0 : normalize_dim("prod", dim, x.dim());
  const kernels::Around a = x.dim() == 0 ? kernels::Around{} : kernels::around(x.shape(), dim);
  Tensor y = prod_along(x, a, x.dim() == 0 ? Shape{} : reduced_shape(x.shape(), dim, keepdim));
  if (should_record(x_in))
    record(op::prod, {x_in}, y, {x_in}, [dim, keepdim](BackwardContext& ctx) {
      const Tensor& x = ctx.saved(0);
      if (ctx.create_graph() && x.dim() == 0) return ctx.accumulate(0, ctx.grad());
      if (ctx.create_graph()) return ctx.accumulate(0, kept(ctx.grad(), dim, keepdim) * prod_of_others(x, dim));
      ctx.accumulate(0,
                     prod_backward(x, ctx.grad(), x.dim() == 0 ? kernels::Around{} : kernels::around(x.shape(), dim)));
    });
  if (has_tangent(x_in))
    record_jvp(op::prod, y, [&] {
      if (x_in.dim() == 0) return tangent(x_in);  // y = x
      return prod_jvp(x_in, tangent(x_in), kept(y, dim, keepdim), dim, keepdim);
    });
  return y;
}

}  // namespace tg
