// SPDX-License-Identifier: MIT
// softmax, log_softmax, cross_entropy and mse_loss.
//
// softmax and log_softmax work on "lines": the 1-D slices of x along `dim`. With x viewed
// as [outer, n, inner], line (o, i) is the n elements o n inner + k inner + i, k < n.
#include <algorithm>
#include <cmath>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "ops/kernels.hpp"
#include "tapegrad/ops/loss.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// Calls f(first, n, stride) for every line of `shape` along `dim`: the line's elements are
// at first + k * stride, k < n. A 0-d tensor is one line of one element.
template <class F>
void for_each_line(const Shape& shape, int dim, F f) {
  std::int64_t n = shape.rank() == 0 ? 1 : shape[dim], inner = 1;
  for (int d = dim + 1; d < shape.rank(); ++d) inner *= shape[d];
  std::int64_t outer = n * inner == 0 ? 0 : shape.numel() / (n * inner);
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) f(o * n * inner + i, n, inner);
}

// softmax (log_space = false) or log_softmax (true) of x along dim, unrecorded. Both
// subtract the line's max m first: e^(x - m) <= 1 never overflows and its sum is >= 1.
Tensor softmax_forward(const Tensor& x, int dim, bool log_space) {
  Tensor y = empty(x.shape(), {.dtype = x.dtype()});
  dispatch_floating(log_space ? "log_softmax" : "softmax", x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_line(x.shape(), dim, [&](std::int64_t first, std::int64_t n, std::int64_t stride) {
      if (stride == 1 && n > 0) {  // a contiguous line (dim is the last): Eigen's vectorised exp
        kernels::softmax_row(px + first, py + first, n, log_space);
        return;
      }
      T m = -INFINITY;
      for (std::int64_t k = 0; k < n; ++k) m = std::max(m, px[first + k * stride]);
      T total = 0;
      for (std::int64_t k = 0; k < n; ++k) total += std::exp(px[first + k * stride] - m);
      T log_total = std::log(total);
      for (std::int64_t k = 0; k < n; ++k) {
        std::int64_t p = first + k * stride;
        py[p] = log_space ? px[p] - m - log_total : std::exp(px[p] - m) / total;
      }
    });
  });
  return y;
}

// How a loss reduces its per-element values: "mean", "sum" or "none", as PyTorch's
// `reduction` argument.
enum class Reduce : std::uint8_t { Mean, Sum, None };
Reduce parse_reduction(const char* op, std::string_view reduction) {
  if (reduction == "mean") return Reduce::Mean;
  if (reduction == "sum") return Reduce::Sum;
  if (reduction == "none") return Reduce::None;
  fail<ValueError>("{}: reduction \"{}\" is not one of \"mean\", \"sum\" or \"none\"", op, reduction);
}

// Class scores [N, C, d1, ...] (or [C]) and class indices [N, d1, ...] (or 0-d), as
// F.cross_entropy and F.nll_loss take them, viewed as [N, C, S] and [N, S], S = d1 * ...
struct ClassLayout {
  std::int64_t n = 1, classes = 1, inner = 1;
  Shape target_shape;  // the shape targets must have: the scores' shape without the class dim
};
ClassLayout class_layout(const char* op, const Tensor& scores, const Tensor& targets, std::int64_t ignore_index) {
  if (scores.dim() == 0)
    fail<ShapeError>(
        "{}: the scores are 0-d; they must be [C] (one example's class scores), [N, C] or [N, C, d1, ...] "
        "(classes along dim 1)",
        op);
  ClassLayout l;
  const int class_dim = scores.dim() == 1 ? 0 : 1;
  l.classes = scores.size(class_dim);
  l.target_shape = scores.shape().without(class_dim);
  if (scores.dim() > 1) l.n = scores.size(0);
  for (int d = 2; d < scores.dim(); ++d) l.inner *= scores.size(d);
  if (!(targets.shape() == l.target_shape))
    fail<ShapeError>(
        "{}: scores {} need targets of shape {} (one class index per example: the scores' shape without the "
        "class dim {}), got {}",
        op, scores.shape(), l.target_shape, class_dim, targets.shape());
  const std::int64_t* t = targets.data<std::int64_t>();
  for (std::int64_t i = 0; i < targets.numel(); ++i)
    if (t[i] != ignore_index && (t[i] < 0 || t[i] >= l.classes))
      fail<ValueError>(
          "{}: target {} (element {} of the targets) is out of range for {} classes; class indices must be in [0, "
          "{}), or equal ignore_index ({}) to be left out",
          op, t[i], i, l.classes, l.classes, ignore_index);
  return l;
}

void check_index_targets(const char* op, const Tensor& scores, const Tensor& targets) {
  if (targets.dtype() != kInt64)
    fail<DtypeError>(
        "{}: targets are {} {}, but class indices must be int64: pass targets.to(tg::kInt64){}", op,
        dtype_name(targets.dtype()), targets.shape(),
        std::string_view(op) == "cross_entropy"
            ? fmt::format(" (or class probabilities: a float tensor shaped like the scores {})", scores.shape())
            : std::string());
}

// The per-example losses of cross_entropy (smoothing = label_smoothing) or nll_loss (from_logp:
// the scores are log-probabilities already, smoothing 0), reduced. `logp` is log_softmax of
// the scores along the class dim (the scores themselves for nll_loss).
//   loss(n, s) = -(1 - eps) logp[n, t, s] - (eps / C) sum_k logp[n, k, s],  t = targets[n, s]
// and 0 where t = ignore_index; "mean" divides the sum by the number of targets not ignored.
struct ClassLoss {
  Tensor loss;
  double count = 0;  // targets not ignored
};
ClassLoss class_loss(const char* op, const Tensor& logp, const Tensor& targets, const ClassLayout& l,
                     std::int64_t ignore_index, double smoothing, Reduce reduce) {
  ClassLoss r;
  Tensor each = reduce == Reduce::None ? empty(l.target_shape, {.dtype = logp.dtype()}) : Tensor();
  dispatch_floating(op, logp.dtype(), [&]<class T>() {
    const T* p = logp.data<T>();
    const std::int64_t* t = targets.data<std::int64_t>();
    T* pe = each.defined() ? each.data<T>() : nullptr;
    const T keep = static_cast<T>(1 - smoothing), spread = static_cast<T>(smoothing / static_cast<double>(l.classes));
    T total = 0;
    std::int64_t count = 0;
    for (std::int64_t n = 0; n < l.n; ++n)
      for (std::int64_t s = 0; s < l.inner; ++s) {
        const std::int64_t i = n * l.inner + s, first = n * l.classes * l.inner + s;
        T value = 0;
        if (t[i] != ignore_index) {
          value = -keep * p[first + t[i] * l.inner];
          if (smoothing != 0) {
            T all = 0;
            for (std::int64_t k = 0; k < l.classes; ++k) all += p[first + k * l.inner];
            value -= spread * all;
          }
          ++count;
        }
        if (pe) pe[i] = value;
        total += value;
      }
    r.count = static_cast<double>(count);
    if (reduce == Reduce::None) return;
    r.loss = empty({}, {.dtype = logp.dtype()});
    // "mean" with every target ignored (or none at all) is 0 / 0 = NaN, as in PyTorch.
    r.loss.data<T>()[0] = reduce == Reduce::Mean ? total / static_cast<T>(count) : total;
  });
  if (reduce == Reduce::None) r.loss = std::move(each);
  return r;
}

// The gradient of class_loss with respect to the scores, given dloss:
//   cross_entropy: dscores[n, k, s] = g(n, s) (softmax[n, k, s] - (1 - eps) [k = t] - eps / C)
//   nll_loss:      dlogp[n, k, s]   = -g(n, s) [k = t]
// with g(n, s) = dloss / count ("mean"), dloss ("sum") or dloss[n, s] ("none"), 0 where ignored.
// For nll_loss, `logp` is undefined (its gradient does not read it).
Tensor class_loss_backward(const Shape& shape, const Tensor& logp, const Tensor& targets, const Tensor& dloss,
                           std::int64_t ignore_index, double smoothing, Reduce reduce, double count) {
  const bool from_logp = !logp.defined();
  const int class_dim = shape.rank() == 1 ? 0 : 1;
  const std::int64_t classes = shape[class_dim], rows = targets.numel();
  const std::int64_t inner = rows == 0 ? 1 : rows / (shape.rank() > 1 ? shape[0] : 1);
  const Dtype dtype = from_logp ? dloss.dtype() : logp.dtype();
  Tensor d = from_logp ? zeros(shape, {.dtype = dtype}) : empty(shape, {.dtype = dtype});
  dispatch_floating("cross_entropy", dtype, [&]<class T>() {
    Tensor holder;
    const Tensor& g = kernels::cast(dloss, dtype, holder);
    const T* pg = g.data<T>();
    const T* p = from_logp ? nullptr : logp.data<T>();
    const std::int64_t* t = targets.data<std::int64_t>();
    T* pd = d.data<T>();
    const T scale = reduce == Reduce::Mean ? pg[0] / static_cast<T>(count) : pg[0];
    const T keep = static_cast<T>(1 - smoothing), spread = static_cast<T>(smoothing / static_cast<double>(classes));
    for (std::int64_t i = 0; i < rows; ++i) {
      const std::int64_t n = i / inner, s = i % inner, first = n * classes * inner + s;
      const bool ignored = t[i] == ignore_index;
      const T gi = ignored ? T(0) : reduce == Reduce::None ? pg[i] : scale;
      if (from_logp) {
        if (!ignored) pd[first + t[i] * inner] = -gi;
        continue;
      }
      if (inner == 1) {  // contiguous rows, the common [N, C] case: one vectorised pass
        Eigen::Map<const kernels::Array<T>> pr(p + first, classes);
        Eigen::Map<kernels::Array<T>> dr(pd + first, classes);
        kernels::unary(kernels::UnaryFn::exp, pr.data(), dr.data(), classes);
        dr = (dr - spread) * gi;
      } else {
        for (std::int64_t k = 0; k < classes; ++k)
          pd[first + k * inner] = (std::exp(p[first + k * inner]) - spread) * gi;
      }
      if (!ignored) pd[first + t[i] * inner] -= keep * gi;
    }
  });
  return d;
}

// class_loss_backward's constants, for a backward that records itself (create_graph): the
// target distribution q (1 - eps + eps / C on t, eps / C elsewhere, 0 on ignored rows) shaped
// as the scores, and each row's weight w (1 / count for "mean", else 1; 0 where ignored)
// shaped as the scores with a class dim of 1. With G = dloss (unsqueezed along the class dim
// for "none"), the gradients are then registry ops of the scores and of dloss:
//   cross_entropy: dscores = (softmax(scores) - q) w G,   nll_loss: dlogp = -q w G
struct ClassTargets {
  Tensor q, w;
};
ClassTargets class_targets(const Shape& shape, const Tensor& targets, std::int64_t ignore_index, double smoothing,
                           Reduce reduce, double count, Dtype dtype) {
  const int class_dim = shape.rank() == 1 ? 0 : 1;
  const std::int64_t classes = shape[class_dim], rows = targets.numel();
  const std::int64_t inner = rows == 0 ? 1 : rows / (shape.rank() > 1 ? shape[0] : 1);
  Shape w_shape = shape;
  w_shape[class_dim] = 1;
  ClassTargets r{zeros(shape, {.dtype = dtype}), zeros(w_shape, {.dtype = dtype})};
  dispatch_floating("cross_entropy", dtype, [&]<class T>() {
    const std::int64_t* t = targets.data<std::int64_t>();
    T *pq = r.q.data<T>(), *pw = r.w.data<T>();
    const T keep = static_cast<T>(1 - smoothing), spread = static_cast<T>(smoothing / static_cast<double>(classes));
    const T weight = reduce == Reduce::Mean ? static_cast<T>(1 / count) : T(1);
    for (std::int64_t i = 0; i < rows; ++i) {
      if (t[i] == ignore_index) continue;
      const std::int64_t n = i / inner, s = i % inner, first = n * classes * inner + s;
      for (std::int64_t k = 0; k < classes; ++k) pq[first + k * inner] = spread;
      pq[first + t[i] * inner] += keep;
      pw[i] = weight;
    }
  });
  return r;
}

// The number of targets not equal to ignore_index.
double kept_targets(const Tensor& targets, std::int64_t ignore_index) {
  const std::int64_t* t = targets.data<std::int64_t>();
  return static_cast<double>(std::count_if(t, t + targets.numel(), [&](std::int64_t v) { return v != ignore_index; }));
}

// G w, the per-row factor of class_targets' gradients.
Tensor class_grad_weight(const Tensor& dloss, const ClassTargets& t, Reduce reduce) {
  return (reduce == Reduce::None ? unsqueeze(dloss, t.q.dim() == 1 ? 0 : 1) : dloss) * t.w;
}

}  // namespace

// y = softmax(x) along dim
// dx = y * (dy - sum_dim(dy * y))
// jvp: y' = y * (x' - sum_dim(y * x'))
// With create_graph the same formula in registry ops: y is the saved output, whose history
// is this entry, so a second backward differentiates through softmax again.
Tensor softmax(const Tensor& x, int dim) {
  kernels::check_input(op::softmax, x);
  dim = normalize_dim("softmax", dim, x.dim());
  Tensor y = softmax_forward(x, dim, false);
  if (should_record(x))
    record(op::softmax, {x}, y, {y}, [dim](BackwardContext& ctx) {
      if (ctx.create_graph()) {
        const Tensor &y = ctx.saved(0), &dy = ctx.grad();
        ctx.accumulate(0, y * (dy - (dy * y).sum(dim, true)));
        return;
      }
      Tensor y = ctx.saved(0), dy = kernels::cast(ctx.grad(), y.dtype()), dx = empty(y.shape(), {.dtype = y.dtype()});
      dispatch_floating("softmax", y.dtype(), [&]<class T>() {
        const T *py = y.data<T>(), *pdy = dy.data<T>();
        T* pdx = dx.data<T>();
        for_each_line(y.shape(), dim, [&](std::int64_t first, std::int64_t n, std::int64_t stride) {
          T dot = 0;
          for (std::int64_t k = 0; k < n; ++k) dot += pdy[first + k * stride] * py[first + k * stride];
          for (std::int64_t k = 0; k < n; ++k) {
            std::int64_t p = first + k * stride;
            pdx[p] = py[p] * (pdy[p] - dot);
          }
        });
      });
      ctx.accumulate(0, std::move(dx));
    });
  if (has_tangent(x))
    record_jvp(op::softmax, y, [&] {
      const Tensor yt = y * tangent(x);
      return yt - y * yt.sum(dim, true);
    });
  return y;
}

// y = log_softmax(x) along dim
// dx = dy - softmax(x) * sum_dim(dy) = dy - e^y * sum_dim(dy)
// jvp: y' = x' - sum_dim(e^y * x')
// (with create_graph in registry ops, through the saved output y as softmax)
Tensor log_softmax(const Tensor& x, int dim) {
  kernels::check_input(op::log_softmax, x);
  dim = normalize_dim("log_softmax", dim, x.dim());
  Tensor y = softmax_forward(x, dim, true);
  if (should_record(x))
    record(op::log_softmax, {x}, y, {y}, [dim](BackwardContext& ctx) {
      if (ctx.create_graph()) {
        const Tensor &y = ctx.saved(0), &dy = ctx.grad();
        ctx.accumulate(0, dy - exp(y) * dy.sum(dim, true));
        return;
      }
      Tensor y = ctx.saved(0), dy = kernels::cast(ctx.grad(), y.dtype()), dx = empty(y.shape(), {.dtype = y.dtype()});
      dispatch_floating("log_softmax", y.dtype(), [&]<class T>() {
        const T *py = y.data<T>(), *pdy = dy.data<T>();
        T* pdx = dx.data<T>();
        for_each_line(y.shape(), dim, [&](std::int64_t first, std::int64_t n, std::int64_t stride) {
          if (stride == 1) {  // contiguous: vectorised
            Eigen::Map<const kernels::Array<T>> yr(py + first, n), dyr(pdy + first, n);
            Eigen::Map<kernels::Array<T>> dxr(pdx + first, n);
            kernels::unary(kernels::UnaryFn::exp, yr.data(), dxr.data(), n);
            dxr = dyr - dxr * dyr.sum();
            return;
          }
          T total = 0;
          for (std::int64_t k = 0; k < n; ++k) total += pdy[first + k * stride];
          for (std::int64_t k = 0; k < n; ++k) {
            std::int64_t p = first + k * stride;
            pdx[p] = pdy[p] - std::exp(py[p]) * total;
          }
        });
      });
      ctx.accumulate(0, std::move(dx));
    });
  if (has_tangent(x))
    record_jvp(op::log_softmax, y, [&] {
      const Tensor t = tangent(x);
      return t - (exp(y) * t).sum(dim, true);
    });
  return y;
}

// With class indices t, logits [N, C, ...] and logp = log_softmax(logits, 1):
//   loss(n, s) = -(1 - eps) logp[n, t, s] - (eps / C) sum_k logp[n, k, s]   (0 where t is ignored)
//   dlogits[n, k, s] = g(n, s) (softmax[n, k, s] - (1 - eps) [k = t] - eps / C)
// where g is dloss / (targets not ignored) for "mean". The target distribution q puts 1 - eps + eps/C
// on t and eps/C elsewhere and sums to 1, so d/dlogits of -sum_k q_k logp_k is softmax - q.
// With float targets shaped like the logits (class probabilities, as PyTorch's soft labels):
//   loss(n, s) = -sum_k q[n, k, s] logp[n, k, s],  q = (1 - eps) targets + eps / C,
// computed with log_softmax, mul and sum; "mean" divides by N * d1 * ..., as PyTorch, and
//   dlogits = g (softmax sum_k q_k - q),  dtargets = -g (1 - eps) logp  (soft targets may require grad).
// With create_graph the softmax (and the soft q) are recomputed from the saved logits (and
// targets) with registry ops, so d2loss/dlogits2 = g (diag(p) - p p^T) per row, as PyTorch's
// double backward through log_softmax.
// jvp (class indices): loss' = sum_k (softmax - q)_k w x'_k, summed over the rows unless
//   "none" (q and w as in class_targets: w is 1/count for "mean", 0 on ignored rows)
// jvp (probabilities): loss' = reduce(sum_k [(softmax sum_j q_j - q)_k x'_k - (1 - eps) targets'_k logp_k])
// The softmax (and logp, q) are recomputed with registry ops when a backward may run through
// the tangent (the saved ones have no history), else taken from the forward.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options) {
  kernels::check_input(op::cross_entropy, logits, "logits");
  kernels::check_defined("cross_entropy", targets, "targets");
  const Reduce reduce = parse_reduction("cross_entropy", options.reduction);
  const double eps = options.label_smoothing;
  if (!(eps >= 0 && eps <= 1))
    fail<ValueError>("cross_entropy: label_smoothing is {}; it must lie in [0, 1] (0: none)", eps);
  if (targets.is_floating_point() && logits.dim() >= 1 && targets.shape() == logits.shape()) {
    if (options.ignore_index != -100)
      fail<ValueError>(
          "cross_entropy: ignore_index ({}) applies to class indices, not to class probabilities {}; leave it at "
          "-100 and give ignored examples zero probabilities",
          options.ignore_index, targets.shape());
    const int class_dim = logits.dim() == 1 ? 0 : 1;
    const double classes = static_cast<double>(logits.size(class_dim));
    Tensor q, logp, loss;
    double count = 0;
    {
      NoGradGuard unrecorded;
      q = eps == 0 ? targets.detach() : targets.detach() * (1 - eps) + eps / classes;
      logp = log_softmax(logits.detach(), class_dim);
      Tensor each = -(q * logp).sum(class_dim);
      count = static_cast<double>(each.numel());
      loss = reduce == Reduce::None ? each : reduce == Reduce::Sum ? each.sum() : each.sum() / count;
    }
    // dlogits = g (softmax sum_k q_k - q),   dtargets = -g (1 - eps) logp
    if (should_record(logits, targets)) {
      struct Captured {
        int class_dim;
        Reduce reduce;
        double keep;
        double count;
      } c{class_dim, reduce, 1 - eps, count};
      record(op::cross_entropy, {logits, targets}, loss, {logp, q, logits, targets}, [c](BackwardContext& ctx) {
        Tensor logp = ctx.saved(0), q = ctx.saved(1);
        if (ctx.create_graph()) {  // logp and q again, with their history
          const Tensor& logits = ctx.saved(2);
          logp = log_softmax(logits, c.class_dim);
          q = ctx.saved(3);
          if (c.keep != 1) q = q * c.keep + (1 - c.keep) / static_cast<double>(logits.size(c.class_dim));
        }
        Tensor g = ctx.grad();
        g = c.reduce == Reduce::None ? unsqueeze(g, c.class_dim) : c.reduce == Reduce::Mean ? g / c.count : g;
        if (ctx.needs(0)) ctx.accumulate(0, (exp(logp) * q.sum(c.class_dim, true) - q) * g);
        if (ctx.needs(1)) ctx.accumulate(1, logp * g * -c.keep);
      });
    }
    if (has_tangent(logits, targets))
      record_jvp(op::cross_entropy, loss, [&] {
        const Tensor tx = tangent(logits), tq = tangent(targets);
        const Tensor lp = should_record(logits) ? log_softmax(logits, class_dim) : logp;
        Tensor each;
        if (tx.defined()) {
          const Tensor qh = !should_record(targets) ? q : eps == 0 ? targets : targets * (1 - eps) + eps / classes;
          each = ((exp(lp) * qh.sum(class_dim, true) - qh) * tx).sum(class_dim);
        }
        if (tq.defined()) each = add_tangents(std::move(each), (tq * lp).sum(class_dim) * -(1 - eps));
        return reduce == Reduce::None ? each : reduce == Reduce::Sum ? each.sum() : each.sum() / count;
      });
    return loss;
  }
  check_index_targets("cross_entropy", logits, targets);
  const ClassLayout layout = class_layout("cross_entropy", logits, targets, options.ignore_index);
  Tensor logp = softmax_forward(logits, logits.dim() == 1 ? 0 : 1, true);
  ClassLoss r = class_loss("cross_entropy", logp, targets, layout, options.ignore_index, eps, reduce);
  if (should_record(logits)) {
    // The exact smoothing (the forward's) and no count, which does not fit beside it in the
    // closure: the backward counts the targets not ignored again.
    struct Captured {
      std::int64_t ignore_index;
      double smoothing;
      Reduce reduce;
    } c{options.ignore_index, eps, reduce};
    record(op::cross_entropy, {logits, targets}, r.loss, {logp, targets, logits}, [c](BackwardContext& ctx) {
      const Tensor& logp = ctx.saved(0);
      const double count = c.reduce == Reduce::Mean ? kept_targets(ctx.saved(1), c.ignore_index) : 0;
      if (ctx.create_graph()) {  // (softmax(logits) - q) w G, the softmax recomputed with history
        const Tensor& logits = ctx.saved(2);
        const ClassTargets t =
            class_targets(logits.shape(), ctx.saved(1), c.ignore_index, c.smoothing, c.reduce, count, logits.dtype());
        ctx.accumulate(0,
                       (softmax(logits, logits.dim() == 1 ? 0 : 1) - t.q) * class_grad_weight(ctx.grad(), t, c.reduce));
        return;
      }
      ctx.accumulate(0, class_loss_backward(logp.shape(), logp, ctx.saved(1), ctx.grad(), c.ignore_index, c.smoothing,
                                            c.reduce, count));
    });
  }
  if (has_tangent(logits))
    record_jvp(op::cross_entropy, r.loss, [&] {
      const int class_dim = logits.dim() == 1 ? 0 : 1;
      const ClassTargets t =
          class_targets(logits.shape(), targets, options.ignore_index, eps, reduce, r.count, logits.dtype());
      const Tensor p = should_record(logits) ? softmax(logits, class_dim) : exp(logp);
      const Tensor each = (p - t.q) * t.w * tangent(logits);
      return reduce == Reduce::None ? each.sum(class_dim) : each.sum();
    });
  return std::move(r.loss);
}

// loss(n, s) = -logp[n, t, s]  (0 where t is ignored), reduced as cross_entropy
// dlogp[n, k, s] = -g(n, s) [k = t]   (linear in g, constant in logp: its Hessian is 0)
// jvp: loss' = nll_loss(log_probs', targets): linear in log_probs
Tensor nll_loss(const Tensor& log_probs, const Tensor& targets, const NllLossOptions& options) {
  kernels::check_input(op::nll_loss, log_probs, "log_probs");
  kernels::check_defined("nll_loss", targets, "targets");
  const Reduce reduce = parse_reduction("nll_loss", options.reduction);
  check_index_targets("nll_loss", log_probs, targets);
  const ClassLayout layout = class_layout("nll_loss", log_probs, targets, options.ignore_index);
  ClassLoss r = class_loss("nll_loss", log_probs, targets, layout, options.ignore_index, 0, reduce);
  if (should_record(log_probs)) {
    struct Captured {
      std::int64_t ignore_index;
      Reduce reduce;
      double count;
    } c{options.ignore_index, reduce, r.count};
    record(op::nll_loss, {log_probs, targets}, r.loss, {targets}, [c](BackwardContext& ctx) {
      if (ctx.create_graph()) {  // -q w G: linear in dloss, constant in log_probs
        const ClassTargets t =
            class_targets(ctx.input_shape(0), ctx.saved(0), c.ignore_index, 0, c.reduce, c.count, ctx.grad().dtype());
        ctx.accumulate(0, -(t.q * class_grad_weight(ctx.grad(), t, c.reduce)));
        return;
      }
      ctx.accumulate(0, class_loss_backward(ctx.input_shape(0), Tensor(), ctx.saved(0), ctx.grad(), c.ignore_index, 0,
                                            c.reduce, c.count));
    });
  }
  if (has_tangent(log_probs))
    record_jvp(op::nll_loss, r.loss, [&] { return nll_loss(tangent(log_probs), targets, options); });
  return std::move(r.loss);
}

Tensor cross_entropy(const Tensor& logits, std::span<const std::int64_t> targets, const CrossEntropyOptions& options) {
  return cross_entropy(logits,
                       from_vector(std::vector<std::int64_t>(targets.begin(), targets.end()),
                                   {static_cast<std::int64_t>(targets.size())}),
                       options);
}

// loss = (1/n) sum_i (a_i - b_i)^2  with a = input, b = target, n elements
// da = dloss * 2 (a - b) / n,  db = -da   (with create_graph recorded: d2loss/da2 = 2/n I)
// jvp: loss' = (2/n) sum((a - b) (a' - b'))
Tensor mse_loss(const Tensor& input, const Tensor& target) {
  kernels::check_input(op::mse_loss, input);
  kernels::check_input(op::mse_loss, target, "the target");
  if (!(input.shape() == target.shape()))
    fail<ShapeError>(
        "mse_loss: input {} and target {} must have the same shape (no broadcasting); reshape one of "
        "them",
        input.shape(), target.shape());
  Dtype dtype = kernels::result_type(input, target);
  Tensor diff = kernels::broadcast_binary("mse_loss", input, target, dtype, [](auto a, auto b) { return a - b; });
  Tensor loss = empty({}, {.dtype = dtype});
  double n = static_cast<double>(diff.numel());
  dispatch_floating("mse_loss", dtype,
                    [&]<class T>() { loss.data<T>()[0] = kernels::vec<T>(diff).square().sum() / static_cast<T>(n); });
  if (should_record(input, target))
    record(op::mse_loss, {input, target}, loss, {diff, input, target}, [n](BackwardContext& ctx) {
      if (ctx.create_graph()) {  // the Hessian is 2/n: a - b and dloss with their history
        Tensor dinput = (ctx.saved(1) - ctx.saved(2)) * (ctx.grad() * (2 / n));
        if (ctx.needs(1)) ctx.accumulate(1, -dinput);
        if (ctx.needs(0)) ctx.accumulate(0, std::move(dinput));
        return;
      }
      Tensor dinput = ctx.saved(0) * (2 * ctx.grad().item<double>() / n);
      if (ctx.needs(1)) ctx.accumulate(1, -dinput);
      ctx.accumulate(0, std::move(dinput));
    });
  if (has_tangent(input, target))
    record_jvp(op::mse_loss, loss, [&] {
      const Tensor ta = tangent(input), tb = tangent(target);
      const Tensor dt = !tb.defined() ? ta : !ta.defined() ? -tb : ta - tb;
      const Tensor d = should_record(input, target) ? input - target : diff;  // a - b with its history
      return (d * dt).sum() * (2 / n);
    });
  return loss;
}

// With x = logits, y = targets, w = weight, p = pos_weight (both 1 when not given):
//   loss = w [(1 - y) x + (1 + (p - 1) y) softplus(-x)]  = -w [p y ln sigmoid(x) + (1 - y) ln(1 - sigmoid(x))]
//   dx = dloss w ((1 + (p - 1) y) sigmoid(x) - p y)
//   dy = dloss w ((p - 1) softplus(-x) - x)
// softplus(-x) = max(-x, 0) + ln(1 + e^-|x|) never overflows. Forward and backward are
// written in registered ops (run unrecorded), which also broadcast w and p.
// jvp: loss' = reduce(w ((1 + (p - 1) y) sigmoid(x) - p y) x' + w ((p - 1) softplus(-x) - x) y')
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets,
                                        const BceWithLogitsOptions& options) {
  constexpr const char* kOp = "binary_cross_entropy_with_logits";
  kernels::check_input(op::binary_cross_entropy_with_logits, logits, "logits");
  kernels::check_input(op::binary_cross_entropy_with_logits, targets, "targets");
  const Reduce reduce = parse_reduction(kOp, options.reduction);
  if (!(targets.shape() == logits.shape()))
    fail<ShapeError>("{}: targets {} must have the shape of the logits {} (one 0/1 label or probability each)", kOp,
                     targets.shape(), logits.shape());
  auto check_broadcast = [&](const Tensor& t, const char* what, const char* fix) {
    if (!t.defined()) return;
    kernels::check_input(op::binary_cross_entropy_with_logits, t, what);
    bool fits = t.dim() <= logits.dim();
    for (int d = 1; fits && d <= t.dim(); ++d) {
      const std::int64_t a = t.size(t.dim() - d), b = logits.size(logits.dim() - d);
      fits = a == b || a == 1;
    }
    if (!fits)
      fail<ShapeError>("{}: {} {} does not broadcast to the logits {}; {}", kOp, what, t.shape(), logits.shape(), fix);
  };
  check_broadcast(options.weight, "weight", "give one weight per element or a shape that broadcasts to them");
  check_broadcast(options.pos_weight, "pos_weight",
                  "give one weight per class, along the last dim (e.g. [C] for logits [N, C])");
  Tensor loss;
  {
    NoGradGuard unrecorded;
    const Tensor x = logits.detach(), y = targets.detach();
    Tensor softplus_neg = relu(-x) + log1p(exp(-abs(x)));
    Tensor positive = options.pos_weight.defined() ? (options.pos_weight.detach() - 1.0) * y + 1.0 : Tensor();
    Tensor each = (1.0 - y) * x + (positive.defined() ? positive * softplus_neg : softplus_neg);
    if (options.weight.defined()) each = each * options.weight.detach();
    loss = reduce == Reduce::None ? each : reduce == Reduce::Sum ? each.sum() : each.mean();
  }
  // weight and pos_weight get no gradient: one that requires grad is refused by record()
  if (should_record(logits, targets, options.weight, options.pos_weight))
    record(op::binary_cross_entropy_with_logits, {logits, targets, options.weight, options.pos_weight}, loss,
           {logits, targets, options.weight, options.pos_weight}, [reduce](BackwardContext& ctx) {
             const Tensor &x = ctx.saved(0), &y = ctx.saved(1), &w = ctx.saved(2), &p = ctx.saved(3);
             Tensor g = ctx.grad();
             if (reduce != Reduce::None)
               g = expand(reduce == Reduce::Mean ? g / static_cast<double>(x.numel()) : g, x.shape());
             if (w.defined()) g = g * w;
             if (ctx.needs(0)) {
               Tensor s = sigmoid(x);
               ctx.accumulate(0, g * (p.defined() ? s * ((p - 1.0) * y + 1.0) - p * y : s - y));
             }
             if (ctx.needs(1)) {
               Tensor dy = p.defined() ? (p - 1.0) * (relu(-x) + log1p(exp(-abs(x)))) - x : -x;
               ctx.accumulate(1, g * dy);
             }
           });
  if (has_tangent(logits, targets))
    record_jvp(op::binary_cross_entropy_with_logits, loss, [&] {
      const Tensor &x = logits, &y = targets, &w = options.weight, &p = options.pos_weight;
      const Tensor tx = tangent(x), ty = tangent(y);
      Tensor each;
      if (tx.defined()) {
        const Tensor s = sigmoid(x);
        each = tx * (p.defined() ? s * ((p - 1.0) * y + 1.0) - p * y : s - y);
      }
      if (ty.defined())
        each =
            add_tangents(std::move(each), ty * (p.defined() ? (p - 1.0) * (relu(-x) + log1p(exp(-abs(x)))) - x : -x));
      if (w.defined()) each = each * w;
      return reduce == Reduce::None ? each : reduce == Reduce::Sum ? each.sum() : each.mean();
    });
  return loss;
}

}  // namespace tg
