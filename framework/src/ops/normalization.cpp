// SPDX-License-Identifier: MIT
// batch_norm, layer_norm and dropout, with hand-written backwards.
//
// batch_norm views x [N, C, ...] as [N, C, S] (S = the product of the dims after C, 1 for
// 2-D input) and normalises each channel c over its M = N * S values:
//   mean = (1/M) sum x,   var = (1/M) sum (x - mean)^2,   invstd = 1 / sqrt(var + eps)
//   xhat = (x - mean) invstd,   y = weight xhat + bias
//
// Backward (sums are per channel, over its M values; dxhat = dy * weight):
//   dbias   = sum(dy)
//   dweight = sum(dy * xhat)
//   training: mean and var depend on x. With d xhat_j / d x_i = invstd (delta_ij - 1/M
//   - xhat_i xhat_j / M), the chain rule gives
//     dx = (1/M) invstd (M dxhat - sum(dxhat) - xhat sum(dxhat xhat))
//        = weight invstd (dy - sum(dy) / M - xhat sum(dy xhat) / M)
//   eval: mean and invstd are constants (the running statistics), so y is affine in x:
//     dx = weight invstd dy
//
// jvp: y' = weight xhat' + weight' xhat + bias', where xhat' = invstd x' in eval and, in training
//   xhat' = invstd (x' - mean(x') - xhat mean(x' xhat))   (per-channel means)
// (xhat' is the training backward's projection applied to x': the projection is symmetric).
#include <cmath>

#include "ops/kernels.hpp"
#include "ops/parallel_for.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/ops/normalization.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

template <class T>
using Vec = kernels::Array<T>;  // one value per channel

// x [N, C, d2, ...] viewed as [N, C, S]: element (n, c, s) is at (n C + c) S + s.
struct ChannelLayout {
  std::int64_t N, C, S;
};

// Note: how the loops run. With S > 1 (images) each (n, c) is a contiguous run of S values,
// so sums run over channels in parallel, one run at a time, vectorised along the run. With
// S = 1 ([N, C] features) a channel's values are C apart, so the loops go along rows of C
// instead, vectorised across channels. Every channel's sum is taken by one thread in one
// fixed order, so results do not depend on the thread count.

// sum over the elements i of each channel c of f(a[i], b[i], center[c]), f written with
// array operations: it gets Eigen arrays (a run of one channel, or a row across channels).
template <class T, class F>
Vec<T> channel_sum(const ChannelLayout& l, const T* a, const T* b, const Vec<T>& center, F f) {
  using Run = Eigen::Map<const Vec<T>>;
  Vec<T> out = Vec<T>::Zero(l.C);
  if (l.S == 1) {
    for (std::int64_t n = 0; n < l.N; ++n) out += f(Run(a + n * l.C, l.C), Run(b + n * l.C, l.C), center);
    return out;
  }
  kernels::parallel_for(l.C, l.N * l.S, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t c = begin; c < end; ++c)
      for (std::int64_t n = 0; n < l.N; ++n) {
        std::int64_t first = (n * l.C + c) * l.S;
        out[c] += f(Run(a + first, l.S), Run(b + first, l.S), center[c]).sum();
      }
  });
  return out;
}

// Calls f(i, c) for every element i (of channel c), in parallel when large.
template <class F>
void for_each_element(const ChannelLayout& l, F f) {
  if (l.S == 1) {
    kernels::parallel_for(l.N, l.C, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t n = begin; n < end; ++n)
        for (std::int64_t c = 0; c < l.C; ++c) f(n * l.C + c, c);
    });
    return;
  }
  kernels::parallel_for(l.N * l.C, l.S, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t row = begin; row < end; ++row)
      for (std::int64_t s = 0, c = row % l.C; s < l.S; ++s) f(row * l.S + s, c);
  });
}

template <class T>
Tensor to_tensor(const Vec<T>& v) {
  Tensor t = empty({v.size()}, {.dtype = dtype_of<T>()});
  kernels::vec<T>(t) = v;
  return t;
}

// A per-channel parameter as a Vec<T>, or `fallback` everywhere when it is undefined.
template <class T>
Vec<T> channel_values(const Tensor& t, std::int64_t C, T fallback) {
  if (!t.defined()) return Vec<T>::Constant(C, fallback);
  return kernels::vec<T>(kernels::cast(t, dtype_of<T>()));
}

void check_channel_vector(const char* what, const Tensor& t, const Tensor& x) {
  if (t.defined() && !(t.dim() == 1 && t.size(0) == x.size(1)))
    fail<ShapeError>("batch_norm: {} has shape {} but the input {} has C = {} channels (dim 1); it must be [{}]", what,
                     t.shape(), x.shape(), x.size(1), x.size(1));
}

void check_batch_norm_args(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                           const Tensor& bias, bool training) {
  if (x.dim() < 2)
    fail<ShapeError>("batch_norm: input must be [N, C] or [N, C, H, W], got shape {}; add a batch dim", x.shape());
  check_channel_vector("running_mean", running_mean, x);
  check_channel_vector("running_var", running_var, x);
  check_channel_vector("weight", weight, x);
  check_channel_vector("bias", bias, x);
  if (running_mean.defined() != running_var.defined())
    fail<ValueError>("batch_norm: running_mean and running_var must both be given or both be undefined");
  if (!training && !running_mean.defined())
    fail<ValueError>(
        "batch_norm: eval mode (training = false) normalises with running_mean and running_var; "
        "pass them, or use training = true");
  if (training && x.numel() / x.size(1) <= 1)
    fail<ValueError>(
        "batch_norm: expected more than 1 value per channel when training, got input shape {}; use a "
        "batch of at least 2 (or eval mode)",
        x.shape());
}

// running = (1 - momentum) running + momentum batch, in the running statistics' own dtype.
void update_running(Tensor running, const Tensor& batch, double momentum) {
  NoGradGuard no_grad;
  running.mul_(1 - momentum).add_(batch, momentum);
}

// batch_norm's backward in registry ops, for a backward that records itself (create_graph).
// x is viewed as [N, C, S] and the per-channel sums run over dims 0 and 2. In training the
// statistics are recomputed from x, so that a second backward differentiates through them
// (the saved ones have no history); in eval they are the running statistics, constants:
//   xhat = (x - mean) invstd,   dxhat = dy weight
//   dx = invstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))   (training)
//   dx = invstd dxhat                                           (eval)
//   dweight = sum(dy xhat),   dbias = sum(dy)
void batch_norm_backward_recorded(BackwardContext& ctx, bool training, double eps) {
  const Tensor &x = ctx.saved(0), &weight = ctx.saved(1), &dy = ctx.grad();
  const std::int64_t N = dy.size(0), C = dy.size(1);
  const Shape view{N, C, dy.numel() == 0 ? 0 : dy.numel() / (N * C)}, channel{1, C, 1};
  auto per_channel_mean = [](const Tensor& t) { return t.mean(2, true).mean(0, true); };
  auto per_channel_sum = [](const Tensor& t) { return t.sum(2, true).sum(0, true); };
  const Tensor dy3 = dy.reshape(view);
  Tensor xhat, invstd;
  if (x.defined()) {
    const Tensor x3 = x.reshape(view);
    if (training) {
      const Tensor centered = x3 - per_channel_mean(x3);
      invstd = rsqrt(per_channel_mean(centered * centered) + eps);
      xhat = centered * invstd;
    } else {
      invstd = ctx.saved(3).reshape(channel);
      xhat = (x3 - ctx.saved(2).reshape(channel)) * invstd;
    }
  }
  if (ctx.needs(4)) ctx.accumulate(4, per_channel_sum(dy3).reshape({C}));
  if (ctx.needs(3)) ctx.accumulate(3, per_channel_sum(dy3 * xhat).reshape({C}));
  if (!ctx.needs(0)) return;
  const Tensor dxhat = weight.defined() ? dy3 * weight.reshape(channel) : dy3;
  if (!training) {
    ctx.accumulate(0, (dxhat * ctx.saved(3).reshape(channel)).reshape(dy.shape()));
    return;
  }
  const Tensor dx = (dxhat - per_channel_mean(dxhat) - xhat * per_channel_mean(dxhat * xhat)) * invstd;
  ctx.accumulate(0, dx.reshape(dy.shape()));
}

// batch_norm's JVP, in registry ops; mean and invstd are the forward's per-channel statistics
// [C] (of the batch in training, the running ones in eval). When a backward may run through
// the tangent, the batch statistics are recomputed from x (as batch_norm_backward_recorded),
// so that their dependence on x is in the graph.
Tensor batch_norm_jvp(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                      const Tensor& invstd, bool training, double eps) {
  const std::int64_t N = x.size(0), C = x.size(1);
  const Shape view{N, C, x.numel() == 0 ? 0 : x.numel() / (N * C)}, channel{1, C, 1};
  auto per_channel_mean = [](const Tensor& t) { return t.mean(2, true).mean(0, true); };
  const Tensor tx = tangent(x), tw = tangent(weight), tb = tangent(bias);
  Tensor xhat, is;
  if (tw.defined() || (training && tx.defined())) {
    const Tensor x3 = x.reshape(view);
    if (training && should_record(x)) {
      const Tensor centered = x3 - per_channel_mean(x3);
      is = rsqrt(per_channel_mean(centered * centered) + eps);
      xhat = centered * is;
    } else {
      is = invstd.reshape(channel);
      xhat = (x3 - mean.reshape(channel)) * is;
    }
  } else {
    is = invstd.reshape(channel);
  }
  Tensor out;
  if (tx.defined()) {
    const Tensor t3 = tx.reshape(view);
    const Tensor d = training ? (t3 - per_channel_mean(t3) - xhat * per_channel_mean(t3 * xhat)) * is : t3 * is;
    out = weight.defined() ? d * weight.reshape(channel) : d;
  }
  if (tw.defined()) out = add_tangents(std::move(out), xhat * tw.reshape(channel));
  if (tb.defined()) out = out.defined() ? out + tb.reshape(channel) : expand(tb.reshape(channel), view);
  return out.reshape(x.shape());
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  kernels::check_input(op::batch_norm, x);
  for (const auto& [t, what] : {std::pair{&running_mean, "running_mean"}, std::pair{&running_var, "running_var"},
                                std::pair{&weight, "weight"}, std::pair{&bias, "bias"}})
    if (t->defined()) kernels::check_dtype(op::batch_norm, *t, what);
  check_batch_norm_args(x, running_mean, running_var, weight, bias, training);
  const ChannelLayout l{x.size(0), x.size(1), x.numel() == 0 ? 0 : x.numel() / (x.size(0) * x.size(1))};
  const Dtype dtype = x.dtype();
  const std::int64_t M = l.N * l.S;
  Tensor y = empty(x.shape(), {.dtype = dtype});
  Tensor mean, invstd;  // [C], saved for the backward
  dispatch_floating("batch_norm", dtype, [&]<class T>() {
    const T* px = x.data<T>();
    Vec<T> m(l.C), var(l.C);
    if (training) {
      m = channel_sum<T>(l, px, px, Vec<T>::Zero(l.C), [](auto v, auto, auto) { return v; }) / static_cast<T>(M);
      // two passes: sum (x - mean)^2 keeps its precision when |mean| >> std
      var = channel_sum<T>(l, px, px, m, [](auto v, auto, auto k) { return (v - k) * (v - k); }) / static_cast<T>(M);
      if (running_mean.defined()) {
        update_running(running_mean, to_tensor<T>(m), momentum);
        update_running(running_var, to_tensor<T>(var * (static_cast<T>(M) / static_cast<T>(M - 1))), momentum);
      }
    } else {
      m = channel_values<T>(running_mean, l.C, 0);
      var = channel_values<T>(running_var, l.C, 1);
    }
    Vec<T> is = (var + static_cast<T>(eps)).rsqrt();
    Vec<T> scale = is * channel_values<T>(weight, l.C, 1);  // y = scale x + shift
    Vec<T> shift = channel_values<T>(bias, l.C, 0) - m * scale;
    T* py = y.data<T>();
    for_each_element(l, [&](std::int64_t i, std::int64_t c) { py[i] = px[i] * scale[c] + shift[c]; });
    mean = to_tensor<T>(m);
    invstd = to_tensor<T>(is);
  });
  if (should_record(x, weight, bias)) {
    // x is read by dx (training) and dweight; weight only by dx.
    bool keep_x = x.requires_grad() || (weight.defined() && weight.requires_grad());
    // In training y does not read the running statistics (this call only updates them), so
    // the entry does not list them as inputs: as in PyTorch, y depends on x, weight and bias.
    const Tensor none;
    record(
        op::batch_norm, {x, training ? none : running_mean, training ? none : running_var, weight, bias}, y,
        {keep_x ? x : Tensor(), saved_for(weight, x), mean, invstd}, [training, eps](BackwardContext& ctx) {
          if (ctx.create_graph()) {
            batch_norm_backward_recorded(ctx, training, eps);
            return;
          }
          Tensor x = ctx.saved(0), weight = ctx.saved(1), mean = ctx.saved(2), invstd = ctx.saved(3);
          Tensor dy = kernels::cast(ctx.grad(), mean.dtype());
          const ChannelLayout l{dy.size(0), dy.size(1), dy.numel() == 0 ? 0 : dy.numel() / (dy.size(0) * dy.size(1))};
          Tensor dx, dweight, dbias;
          dispatch_floating("batch_norm", mean.dtype(), [&]<class T>() {
            auto m = kernels::vec<T>(mean), is = kernels::vec<T>(invstd);
            const T* pdy = dy.data<T>();
            const T* px = x.defined() ? x.data<T>() : nullptr;
            Vec<T> sum_dy = channel_sum<T>(l, pdy, pdy, Vec<T>::Zero(l.C), [](auto g, auto, auto) { return g; });
            Vec<T> sum_dy_xhat = Vec<T>::Zero(l.C);
            if (px)
              sum_dy_xhat =
                  channel_sum<T>(l, pdy, px, Vec<T>(m), [](auto g, auto v, auto k) { return g * (v - k); }) * is;
            if (ctx.needs(4)) dbias = to_tensor<T>(sum_dy);
            if (ctx.needs(3)) dweight = to_tensor<T>(sum_dy_xhat);
            if (!ctx.needs(0)) return;
            Vec<T> k = is * channel_values<T>(weight, l.C, 1);  // dy/dx at fixed statistics
            dx = empty(dy.shape(), {.dtype = dy.dtype()});
            T* pdx = dx.data<T>();
            if (!training) {
              for_each_element(l, [&](std::int64_t i, std::int64_t c) { pdx[i] = pdy[i] * k[c]; });
              return;
            }
            const auto M = static_cast<T>(l.N * l.S);
            Vec<T> a = sum_dy / M, b = sum_dy_xhat * is / M;
            for_each_element(l,
                             [&](std::int64_t i, std::int64_t c) {  // k (dy - a - (x - mean) invstd sum(dy xhat) / M)
                               pdx[i] = ((pdy[i] - a[c]) - (px[i] - m[c]) * b[c]) * k[c];
                             });
          });
          if (ctx.needs(0)) ctx.accumulate(0, dx);
          if (ctx.needs(3)) ctx.accumulate(3, dweight);
          if (ctx.needs(4)) ctx.accumulate(4, dbias);
        });
  }
  if (has_tangent(x, weight, bias))
    record_jvp(op::batch_norm, y, [&] { return batch_norm_jvp(x, weight, bias, mean, invstd, training, eps); });
  return y;
}

// y = x * mask / (1 - p),   mask_i ~ Bernoulli(1 - p)
// dx = dy * mask / (1 - p)
// jvp: y' = x' * mask / (1 - p)   (the value's mask)
// Note: the closure saves mask / (1 - p) (0 or the scale) rather than x or y: it is all the
// backward reads, and a zeroed y could not tell a dropped element from a zero input.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  kernels::check_input(op::dropout, x);
  if (!(p >= 0 && p <= 1))
    fail<ValueError>("dropout: probability p must lie in [0, 1], got {}; p is the fraction of elements zeroed", p);
  if (!training || p == 0) return x;
  const double keep_scale = p == 1 ? 0 : 1 / (1 - p);
  Tensor mask = empty(x.shape(), {.dtype = x.dtype()});
  dispatch_floating("dropout", x.dtype(), [&]<class T>() {
    T* m = mask.data<T>();
    for (std::int64_t i = 0, n = x.numel(); i < n; ++i) m[i] = gen.uniform() < p ? T(0) : static_cast<T>(keep_scale);
  });
  Tensor y = kernels::zip("dropout", x, mask, [](auto v, auto m) { return v * m; });
  if (should_record(x))
    record(op::dropout, {x}, y, {mask}, [](BackwardContext& ctx) {
      if (ctx.create_graph()) {  // linear in dy: one recorded mul
        ctx.accumulate(0, ctx.grad() * ctx.saved(0));
        return;
      }
      ctx.accumulate(0, kernels::zip("dropout", ctx.grad(), ctx.saved(0), [](auto g, auto m) { return g * m; }));
    });
  if (has_tangent(x)) record_jvp(op::dropout, y, [&] { return tangent(x) * mask; });
  return y;
}

// ---- layer_norm ----
//
// layer_norm normalises each "row": x viewed as [R, M], M the product of normalized_shape (the
// last dims of x), R the product of the dims before them. Per row:
//   mean = (1/M) sum x,   var = (1/M) sum (x - mean)^2,   rstd = 1 / sqrt(var + eps)
//   xhat = (x - mean) rstd,   y = weight xhat + bias   (weight, bias of normalized_shape)
// Backward (the batch_norm derivation along a row instead of a channel; dxhat = dy weight):
//   dx      = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
//   dweight = sum over rows of dy xhat,   dbias = sum over rows of dy
// The forward saves mean and rstd per row, so the backward never recomputes statistics,
// except when it records itself (create_graph): then the same formulas run in registry ops
// on x [R, M], with mean and rstd recomputed from x so that their dependence on x is in
// the graph.
// jvp: y' = weight xhat' + weight' xhat + bias',  xhat' = rstd (x' - mean(x') - xhat mean(x' xhat))
// (row means; the statistics are recomputed from x as above when a backward may run through
// the tangent, else the saved ones are used)
namespace {
void layer_norm_backward_recorded(BackwardContext& ctx, std::int64_t rows, std::int64_t cols, double eps) {
  const Tensor &x = ctx.saved(0), &w = ctx.saved(1);
  const Tensor x2 = x.reshape({rows, cols}), dy2 = ctx.grad().reshape({rows, cols});
  const Tensor centered = x2 - x2.mean(1, true);
  const Tensor rstd = rsqrt((centered * centered).mean(1, true) + eps), xhat = centered * rstd;
  if (ctx.needs(2)) ctx.accumulate(2, dy2.sum(0).reshape(ctx.input_shape(2)));
  if (ctx.needs(1)) ctx.accumulate(1, (dy2 * xhat).sum(0).reshape(ctx.input_shape(1)));
  if (!ctx.needs(0)) return;
  const Tensor dxhat = w.defined() ? dy2 * w.reshape({1, cols}) : dy2;
  const Tensor dx = (dxhat - dxhat.mean(1, true) - xhat * (dxhat * xhat).mean(1, true)) * rstd;
  ctx.accumulate(0, dx.reshape(x.shape()));
}

Tensor layer_norm_jvp(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean, const Tensor& rstd,
                      std::int64_t rows, std::int64_t cols, double eps) {
  const Tensor tx = tangent(x), tw = tangent(weight), tb = tangent(bias);
  Tensor xhat, r;
  if (tx.defined() || tw.defined()) {
    const Tensor x2 = x.reshape({rows, cols});
    if (should_record(x)) {
      const Tensor centered = x2 - x2.mean(1, true);
      r = rsqrt((centered * centered).mean(1, true) + eps);
      xhat = centered * r;
    } else {
      r = rstd.reshape({rows, 1});
      xhat = (x2 - mean.reshape({rows, 1})) * r;
    }
  }
  Tensor out;
  if (tx.defined()) {
    const Tensor t2 = tx.reshape({rows, cols});
    const Tensor d = (t2 - t2.mean(1, true) - xhat * (t2 * xhat).mean(1, true)) * r;
    out = weight.defined() ? d * weight.reshape({1, cols}) : d;
  }
  if (tw.defined()) out = add_tangents(std::move(out), xhat * tw.reshape({1, cols}));
  if (tb.defined()) out = out.defined() ? out + tb.reshape({1, cols}) : expand(tb.reshape({1, cols}), {rows, cols});
  return out.reshape(x.shape());
}
}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  kernels::check_input(op::layer_norm, x);
  const int k = normalized_shape.rank(), rank = x.dim();
  bool fits = k >= 1 && k <= rank;
  for (int d = 0; fits && d < k; ++d) fits = x.size(rank - k + d) == normalized_shape[d];
  if (!fits)
    fail<ShapeError>(
        "layer_norm: normalized_shape {} must be the last dims of the input {} (e.g. {{{}}} to normalise over its "
        "last dim)",
        normalized_shape, x.shape(), rank == 0 ? 0 : x.size(rank - 1));
  for (auto [t, what] : {std::pair{&weight, "weight"}, std::pair{&bias, "bias"}}) {
    if (!t->defined()) continue;
    kernels::check_input(op::layer_norm, *t, what);
    if (!(t->shape() == normalized_shape))
      fail<ShapeError>("layer_norm: {} has shape {}, but it must be normalized_shape {}", what, t->shape(),
                       normalized_shape);
  }
  if (!(eps >= 0)) fail<ValueError>("layer_norm: eps is {}; it must be >= 0 (PyTorch's default is 1e-5)", eps);
  const std::int64_t cols = normalized_shape.numel(), rows = cols == 0 ? 0 : x.numel() / cols;
  const Dtype dtype = x.dtype();
  Tensor wh, bh;
  const Tensor& w = weight.defined() ? kernels::cast(weight, dtype, wh) : weight;
  const Tensor& b = bias.defined() ? kernels::cast(bias, dtype, bh) : bias;
  Tensor y = empty(x.shape(), {.dtype = dtype}), mean = empty({rows}, {.dtype = dtype}),
         rstd = empty({rows}, {.dtype = dtype});
  dispatch_floating("layer_norm", dtype, [&]<class T>() {
    kernels::layer_norm_rows(x.data<T>(), y.data<T>(), mean.data<T>(), rstd.data<T>(), rows, cols, eps,
                             w.defined() ? w.data<T>() : nullptr, b.defined() ? b.data<T>() : nullptr);
  });
  if (should_record(x, weight, bias))
    record(op::layer_norm, {x, weight, bias}, y, {x, saved_for(weight, x), mean, rstd},
           [cols, rows, eps](BackwardContext& ctx) {
             if (ctx.create_graph()) {
               layer_norm_backward_recorded(ctx, rows, cols, eps);
               return;
             }
             const Tensor &x = ctx.saved(0), &w = ctx.saved(1), &mean = ctx.saved(2), &rstd = ctx.saved(3);
             const Dtype dtype = x.dtype();
             Tensor gh, wh;
             const Tensor& dy = kernels::cast(ctx.grad(), dtype, gh);
             const Tensor& wc = w.defined() ? kernels::cast(w, dtype, wh) : w;
             const bool need_x = ctx.needs(0), need_w = ctx.needs(1), need_b = ctx.needs(2);
             Tensor dx = need_x ? empty(x.shape(), {.dtype = dtype}) : Tensor();
             Tensor dw = need_w ? zeros({cols}, {.dtype = dtype}) : Tensor();
             Tensor db = need_b ? zeros({cols}, {.dtype = dtype}) : Tensor();
             dispatch_floating("layer_norm", dtype, [&]<class T>() {
               kernels::layer_norm_backward_rows(x.data<T>(), dy.data<T>(), mean.data<T>(), rstd.data<T>(),
                                                 wc.defined() ? wc.data<T>() : nullptr, need_x ? dx.data<T>() : nullptr,
                                                 need_w ? dw.data<T>() : nullptr, need_b ? db.data<T>() : nullptr, rows,
                                                 cols);
             });
             if (need_x) ctx.accumulate(0, std::move(dx));
             if (need_w) ctx.accumulate(1, dw.reshape(ctx.input_shape(1)));
             if (need_b) ctx.accumulate(2, db.reshape(ctx.input_shape(2)));
           });
  if (has_tangent(x, weight, bias))
    record_jvp(op::layer_norm, y, [&] { return layer_norm_jvp(x, weight, bias, mean, rstd, rows, cols, eps); });
  return y;
}

}  // namespace tg
