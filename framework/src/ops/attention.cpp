// SPDX-License-Identifier: MIT
// scaled_dot_product_attention: one fused op over every (batch, head) pair.
//
// For each pair, with Q [T, d], K [S, d], V [S, dv] (row-major slices of q, k, v):
//   scores = scale Q K^T (+ mask),   P = softmax(scores) along each row,   O = P V
// Forbidden positions (a false in a bool mask, -inf in a float mask, j > i when causal) get
// score -inf, so e^(score - max) = 0 there. A row with every score -inf has no max to
// subtract: P is set to 0 there, so O's row is 0 and no gradient flows through it.
//
// Backward, from the saved P (llm.c's attention backward, one pair at a time):
//   dV = P^T dO
//   dP = dO V^T
//   dS = P * (dP - rowsum(dP * P))     the softmax's backward, row by row
//   dQ = scale dS K,   dK = scale dS^T Q
//   dmask = dS, summed back to the mask's shape (a float mask is added to the scores)
//
// With create_graph the backward records itself: P is recomputed from q, k and the mask
// with registry ops (matmul, where, softmax), so that a second backward differentiates
// through it, and the formulas above run as registry ops. A fully masked row's scores are
// set to 0 before the softmax and its P to 0 after, so that no -inf or NaN enters the graph.
//
// jvp: O' = P' V + P V',  P' = P * (S' - rowsum(P * S')),  S' = scale (Q' K^T + Q K'^T) + mask'
// from the saved P (recomputed as above when a backward may run through the tangent); masked
// positions and fully masked rows have P = 0, so their P' is 0 too.
#include <cmath>
#include <limits>

#include "isa/gemm.hpp"
#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/ops/attention.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

// The sizes of one attention call: `pairs` (batch, head) slices of q [T, d], k [S, d], v [S, dv].
struct AttentionShape {
  std::int64_t pairs = 1, T = 0, S = 0, d = 0, dv = 0;
};

AttentionShape check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o) {
  constexpr const char* kOp = "scaled_dot_product_attention";
  kernels::check_input(op::scaled_dot_product_attention, q, "query");
  kernels::check_input(op::scaled_dot_product_attention, k, "key");
  kernels::check_input(op::scaled_dot_product_attention, v, "value");
  if (q.dim() < 2 || k.dim() != q.dim() || v.dim() != q.dim())
    fail<ShapeError>(
        "{}: query {}, key {} and value {} must have the same number of dims, at least 2 ([..., T, d], [..., S, "
        "d], [..., S, dv])",
        kOp, q.shape(), k.shape(), v.shape());
  if (k.dtype() != q.dtype() || v.dtype() != q.dtype())
    fail<DtypeError>("{}: query, key and value are {}, {} and {}; convert them to one dtype", kOp,
                     dtype_name(q.dtype()), dtype_name(k.dtype()), dtype_name(v.dtype()));
  const int r = q.dim();
  AttentionShape s{1, q.size(r - 2), k.size(r - 2), q.size(r - 1), v.size(r - 1)};
  for (int i = 0; i < r - 2; ++i) {
    if (k.size(i) != q.size(i) || v.size(i) != q.size(i))
      fail<ShapeError>("{}: query {}, key {} and value {} must have the same leading (batch, head) dims", kOp,
                       q.shape(), k.shape(), v.shape());
    s.pairs *= q.size(i);
  }
  if (k.size(r - 1) != s.d)
    fail<ShapeError>("{}: key {} must have the query's last dim d = {} (query {})", kOp, k.shape(), s.d, q.shape());
  if (v.size(r - 2) != s.S)
    fail<ShapeError>("{}: value {} must have as many positions as key {} (S = {}, dim -2)", kOp, v.shape(), k.shape(),
                     s.S);
  if (o.mask.defined()) {
    if (o.is_causal)
      fail<ValueError>("{}: give either a mask or is_causal = true, not both (fold the causal mask into yours)", kOp);
    if (!o.mask.is_floating_point() && o.mask.dtype() != kBool)
      fail<DtypeError>("{}: the mask is {} {}; it must be bool (true: attend) or floating (added to the scores)", kOp,
                       dtype_name(o.mask.dtype()), o.mask.shape());
    Shape scores = q.shape();
    scores[r - 1] = s.S;
    bool fits = o.mask.dim() <= r;
    for (int i = 1; fits && i <= o.mask.dim(); ++i)
      fits = o.mask.size(o.mask.dim() - i) == 1 || o.mask.size(o.mask.dim() - i) == scores[r - i];
    if (!fits)
      fail<ShapeError>("{}: the mask {} does not broadcast to the scores {} ([..., T, S])", kOp, o.mask.shape(),
                       scores);
  }
  if (o.scale && !std::isfinite(*o.scale))
    fail<ValueError>("{}: scale is {}; give a finite number (or leave it out for 1 / sqrt(d))", kOp, *o.scale);
  return s;
}

// The rows of P (saved by the forward, [..., T, S]) that are all zeros, every key masked
// out, as a bool [..., T, 1]; undefined when there is none.
Tensor dead_rows(const Tensor& probs, const AttentionShape& s) {
  if (s.S == 0) return Tensor();
  Shape shape = probs.shape();
  shape[shape.rank() - 1] = 1;
  Tensor dead = empty(shape, {.dtype = kBool});
  bool any = false;
  dispatch_floating("scaled_dot_product_attention", probs.dtype(), [&]<class T>() {
    const T* p = probs.data<T>();
    bool* d = dead.data<bool>();
    for (std::int64_t row = 0; row < s.pairs * s.T; ++row) {
      d[row] = (Eigen::Map<const kernels::Array<T>>(p + row * s.S, s.S) == T(0)).all();
      any = any || d[row];
    }
  });
  return any ? dead : Tensor();
}

// P recomputed from q, k and the mask with registry ops, so that it has their history;
// `probs` is the forward's P (for its fully masked rows).
Tensor probs_with_history(const Tensor& q, const Tensor& k, const Tensor& mask, const Tensor& probs,
                          const AttentionShape& s, double scale, bool causal) {
  const int r = q.dim();
  const double minus_inf = -std::numeric_limits<double>::infinity();
  Tensor scores = matmul(q, k.transpose(r - 2, r - 1)) * scale;
  if (causal) {  // keep j <= i
    Tensor keep = empty({s.T, s.S}, {.dtype = kBool});
    bool* pk = keep.data<bool>();
    for (std::int64_t i = 0; i < s.T; ++i)
      for (std::int64_t j = 0; j < s.S; ++j) pk[i * s.S + j] = j <= i;
    scores = where(keep, scores, minus_inf);
  }
  if (mask.defined()) scores = mask.dtype() == kBool ? where(mask, scores, minus_inf) : scores + mask;
  const Tensor dead = dead_rows(probs, s);
  if (dead.defined()) scores = masked_fill(scores, dead, 0);
  Tensor P = softmax(scores, r - 1);
  if (dead.defined()) P = masked_fill(P, dead, 0);
  return P;
}

// The backward in registry ops (create_graph), from P recomputed with its history.
void attention_backward_recorded(BackwardContext& ctx, const AttentionShape& s, double scale, bool causal) {
  const Tensor &q = ctx.saved(0), &k = ctx.saved(1), &v = ctx.saved(2), &mask = ctx.saved(4), &dout = ctx.grad();
  const int r = q.dim();
  const Tensor P = probs_with_history(q, k, mask, ctx.saved(3), s, scale, causal);
  const Tensor dP = matmul(dout, v.transpose(r - 2, r - 1));
  const Tensor dS = P * (dP - (dP * P).sum(r - 1, true));
  if (ctx.needs(0)) ctx.accumulate(0, matmul(dS, k) * scale);
  if (ctx.needs(1)) ctx.accumulate(1, matmul(dS.transpose(r - 2, r - 1), q) * scale);
  if (ctx.needs(2)) ctx.accumulate(2, matmul(P.transpose(r - 2, r - 1), dout));
  if (ctx.needs(3)) ctx.accumulate(3, dS);
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& options) {
  const AttentionShape s = check_attention(q, k, v, options);
  const int r = q.dim();
  const double scale = options.scale ? *options.scale : 1 / std::sqrt(static_cast<double>(s.d));
  Shape out_shape = q.shape(), scores_shape = q.shape();
  out_shape[r - 1] = s.dv;
  scores_shape[r - 1] = s.S;
  // The mask, broadcast to every (pair, row) and in the compute dtype when floating.
  Tensor mask;
  if (options.mask.defined()) {
    NoGradGuard unrecorded;
    mask = options.mask.detach();
    if (mask.is_floating_point()) mask = kernels::cast(mask, q.dtype());
    if (!(mask.shape() == scores_shape)) mask = expand(mask, scores_shape);
  }
  Tensor out = empty(out_shape, {.dtype = q.dtype()}), probs = empty(scores_shape, {.dtype = q.dtype()});
  dispatch_floating("scaled_dot_product_attention", q.dtype(), [&]<class T>() {
    const T minus_inf = -std::numeric_limits<T>::infinity();
    for (std::int64_t b = 0; b < s.pairs; ++b) {
      auto Q = kernels::mat<T>(q, s.T, s.d, b * s.T * s.d);
      auto K = kernels::mat<T>(k, s.S, s.d, b * s.S * s.d);
      auto V = kernels::mat<T>(v, s.S, s.dv, b * s.S * s.dv);
      auto P = kernels::mat<T>(probs, s.T, s.S, b * s.T * s.S);
      kernels::gemm<T>(false, true, s.T, s.S, s.d, static_cast<T>(scale), Q.data(), s.d, K.data(), s.d, T(0), P.data(),
                       s.S);
      for (std::int64_t i = 0; i < s.T; ++i) {
        T* row = probs.data<T>() + (b * s.T + i) * s.S;
        if (options.is_causal)
          for (std::int64_t j = i + 1; j < s.S; ++j) row[j] = minus_inf;
        if (mask.defined()) {
          const std::int64_t at = (b * s.T + i) * s.S;
          if (mask.dtype() == kBool) {
            const bool* m = mask.data<bool>() + at;
            for (std::int64_t j = 0; j < s.S; ++j)
              if (!m[j]) row[j] = minus_inf;
          } else {
            const T* m = mask.data<T>() + at;
            for (std::int64_t j = 0; j < s.S; ++j) row[j] += m[j];
          }
        }
        Eigen::Map<kernels::Array<T>> x(row, s.S);
        const T top = s.S == 0 ? minus_inf : x.maxCoeff();
        if (top == minus_inf) {  // every key masked out: zeros, not 0 / 0
          x.setZero();
          continue;
        }
        kernels::softmax_row(row, row, s.S, /*log_space=*/false);
      }
      kernels::gemm<T>(false, false, s.T, s.dv, s.S, T(1), P.data(), s.S, V.data(), s.dv, T(0),
                       out.data<T>() + b * s.T * s.dv, s.dv);
    }
  });
  if (should_record(q, k, v, options.mask)) {
    record(op::scaled_dot_product_attention, {q, k, v, options.mask}, out, {q, k, v, probs, options.mask},
           [s, scale, causal = options.is_causal](BackwardContext& ctx) {
             if (ctx.create_graph()) {
               attention_backward_recorded(ctx, s, scale, causal);
               return;
             }
             const Tensor &q = ctx.saved(0), &k = ctx.saved(1), &v = ctx.saved(2), &probs = ctx.saved(3);
             Tensor gh;
             const Tensor& dout = kernels::cast(ctx.grad(), q.dtype(), gh);
             Tensor dq = empty(q.shape(), {.dtype = q.dtype()}), dk = empty(k.shape(), {.dtype = q.dtype()}),
                    dv = empty(v.shape(), {.dtype = q.dtype()});
             // A float mask is added to the scores, so its gradient is dS, summed over what it was
             // broadcast along (accumulate does that).
             Tensor dscores = ctx.needs(3) ? empty(probs.shape(), {.dtype = q.dtype()}) : Tensor();
             dispatch_floating("scaled_dot_product_attention", q.dtype(), [&]<class T>() {
               const T scale_t = static_cast<T>(scale);
               kernels::RowMajorMatrix<T> dS(s.T, s.S);
               for (std::int64_t b = 0; b < s.pairs; ++b) {
                 auto Q = kernels::mat<T>(q, s.T, s.d, b * s.T * s.d);
                 auto K = kernels::mat<T>(k, s.S, s.d, b * s.S * s.d);
                 auto V = kernels::mat<T>(v, s.S, s.dv, b * s.S * s.dv);
                 auto P = kernels::mat<T>(probs, s.T, s.S, b * s.T * s.S);
                 auto dO = kernels::mat<T>(dout, s.T, s.dv, b * s.T * s.dv);
                 kernels::gemm<T>(true, false, s.S, s.dv, s.T, T(1), P.data(), s.S, dO.data(), s.dv, T(0),
                                  dv.data<T>() + b * s.S * s.dv, s.dv);
                 kernels::gemm<T>(false, true, s.T, s.S, s.dv, T(1), dO.data(), s.dv, V.data(), s.dv, T(0), dS.data(),
                                  s.S);  // dP
                 for (std::int64_t i = 0; i < s.T; ++i) {
                   const T dot = dS.row(i).dot(P.row(i));
                   dS.row(i) = (P.row(i).array() * (dS.row(i).array() - dot)).matrix();
                 }
                 if (dscores.defined()) kernels::mat<T>(dscores, s.T, s.S, b * s.T * s.S) = dS;
                 kernels::gemm<T>(false, false, s.T, s.d, s.S, scale_t, dS.data(), s.S, K.data(), s.d, T(0),
                                  dq.data<T>() + b * s.T * s.d, s.d);
                 kernels::gemm<T>(true, false, s.S, s.d, s.T, scale_t, dS.data(), s.S, Q.data(), s.d, T(0),
                                  dk.data<T>() + b * s.S * s.d, s.d);
               }
             });
             if (ctx.needs(0)) ctx.accumulate(0, std::move(dq));
             if (ctx.needs(1)) ctx.accumulate(1, std::move(dk));
             if (ctx.needs(2)) ctx.accumulate(2, std::move(dv));
             if (ctx.needs(3)) ctx.accumulate(3, std::move(dscores));
           });
  }
  if (has_tangent(q, k, v, options.mask))
    record_jvp(op::scaled_dot_product_attention, out, [&] {
      const Tensor tq = tangent(q), tk = tangent(k), tv = tangent(v);
      Tensor tm = tangent(options.mask);
      const Tensor P = should_record(q, k, options.mask)
                           ? probs_with_history(q, k, options.mask, probs, s, scale, options.is_causal)
                           : probs;
      Tensor dout = tv.defined() ? matmul(P, tv) : Tensor();
      Tensor ds;  // S'
      if (tq.defined()) ds = matmul(tq, k.transpose(r - 2, r - 1));
      if (tk.defined()) ds = add_tangents(std::move(ds), matmul(q, tk.transpose(r - 2, r - 1)));
      if (ds.defined()) ds = ds * scale;
      if (tm.defined()) {
        if (tm.dtype() != q.dtype()) tm = tm.to(q.dtype());
        ds = ds.defined() ? ds + tm : expand(tm, scores_shape);
      }
      if (ds.defined()) {
        const Tensor pds = P * ds;
        dout = add_tangents(std::move(dout), matmul(pds - P * pds.sum(r - 1, true), v));
      }
      return dout;
    });
  return out;
}

}  // namespace tg
