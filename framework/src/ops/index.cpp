// SPDX-License-Identifier: MIT
// Indexing with int64 index tensors: gather and scatter_add (each the other's backward),
// index_select, embedding and one_hot; and the reductions that pick an element: max and min
// (values with their indices), argmax and argmin.
#include <algorithm>
#include <limits>
#include <type_traits>

#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

void check_index(const char* op, const Tensor& index, const char* what = "the index") {
  kernels::check_defined(op, index, what);
  if (index.dtype() != kInt64)
    fail<DtypeError>("{}: {} must be an int64 tensor, got {} {}; convert it with .to(tg::kInt64)", op, what,
                     dtype_name(index.dtype()), index.shape());
}

// index (of `index_shape`) must fit `shape` in every dim but `dim`, as PyTorch's gather and
// scatter require (index.size(d) <= shape[d]); here: equal, the case every use has.
void check_same_but(const char* op, const Shape& index_shape, const Shape& shape, int dim, const char* what) {
  bool fits = index_shape.rank() == shape.rank();
  for (int d = 0; fits && d < shape.rank(); ++d) fits = d == dim || index_shape[d] == shape[d];
  if (!fits)
    fail<ShapeError>("{}: the index {} and {} {} must have one rank and equal sizes except along dim {}", op,
                     index_shape, what, shape, dim);
}

std::int64_t checked(const char* op, std::int64_t i, std::int64_t n, int dim) {
  if (i < 0 || i >= n)
    fail<ValueError>("{}: index {} is out of range for dim {} of size {}; indices must be in [0, {}]", op, i, dim, n,
                     n - 1);
  return i;
}

}  // namespace

// y[..., j, ...] = x[..., index[..., j, ...], ...] along dim (index has x's shape but along dim)
// dx = scatter_add(zeros(x.shape), dim, index, dy)
// jvp: y' = gather(x', dim, index)
Tensor gather(const Tensor& x, int dim, const Tensor& index) {
  kernels::check_input(op::gather, x);
  check_index("gather", index);
  if (x.dim() == 0) fail<ShapeError>("gather: the input is 0-d; gather needs a dim to index");
  dim = normalize_dim("gather", dim, x.dim());
  check_same_but("gather", index.shape(), x.shape(), dim, "the input");
  const kernels::Around xa = kernels::around(x.shape(), dim), ia = kernels::around(index.shape(), dim);
  Tensor y = empty(index.shape(), {.dtype = x.dtype()});
  const std::int64_t* pi = index.data<std::int64_t>();
  dispatch(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (std::int64_t o = 0; o < ia.outer; ++o)
      for (std::int64_t j = 0; j < ia.n; ++j)
        for (std::int64_t k = 0; k < ia.inner; ++k) {
          const std::int64_t at = (o * ia.n + j) * ia.inner + k;
          const std::int64_t i = checked("gather", pi[at], xa.n, dim);
          py[at] = px[(o * xa.n + i) * xa.inner + k];
        }
  });
  if (should_record(x))
    record(op::gather, {x, index}, y, {index}, [dim](BackwardContext& ctx) {
      const Tensor& g = ctx.grad();
      ctx.accumulate(0, scatter_add(zeros(ctx.input_shape(0), {.dtype = g.dtype()}), dim, ctx.saved(0), g));
    });
  if (has_tangent(x)) record_jvp(op::gather, y, [&] { return gather(tangent(x), dim, index); });
  return y;
}

// y = x, then y[..., index[..., j, ...], ...] += src[..., j, ...] along dim
// dx = dy,  dsrc = gather(dy, dim, index)
// jvp: y' = scatter_add(x', dim, index, src')   (x' alone: y' = x'; src' alone: into zeros)
Tensor scatter_add(const Tensor& x, int dim, const Tensor& index, const Tensor& src) {
  kernels::check_input(op::scatter_add, x, "the input");
  check_index("scatter_add", index);
  kernels::check_input(op::scatter_add, src, "the source");
  if (x.dim() == 0) fail<ShapeError>("scatter_add: the input is 0-d; scatter_add needs a dim to index");
  dim = normalize_dim("scatter_add", dim, x.dim());
  check_same_but("scatter_add", index.shape(), x.shape(), dim, "the input");
  if (!(src.shape() == index.shape()))
    fail<ShapeError>("scatter_add: the source {} must have the index's shape {}", src.shape(), index.shape());
  Tensor holder;
  const Tensor& s = kernels::cast(src, x.dtype(), holder);
  Tensor y = x.detach().clone();
  const kernels::Around xa = kernels::around(x.shape(), dim), ia = kernels::around(index.shape(), dim);
  const std::int64_t* pi = index.data<std::int64_t>();
  dispatch(x.dtype(), [&]<class T>() {
    const T* ps = s.data<T>();
    T* py = y.data<T>();
    for (std::int64_t o = 0; o < ia.outer; ++o)
      for (std::int64_t j = 0; j < ia.n; ++j)
        for (std::int64_t k = 0; k < ia.inner; ++k) {
          const std::int64_t at = (o * ia.n + j) * ia.inner + k;
          const std::int64_t i = checked("scatter_add", pi[at], xa.n, dim);
          py[(o * xa.n + i) * xa.inner + k] += ps[at];
        }
  });
  if (should_record(x, src))
    record(op::scatter_add, {x, index, src}, y, {index}, [dim](BackwardContext& ctx) {
      if (ctx.needs(0)) ctx.accumulate(0, ctx.grad());
      if (ctx.needs(2)) ctx.accumulate(2, gather(ctx.grad(), dim, ctx.saved(0)));
    });
  if (has_tangent(x, src))
    record_jvp(op::scatter_add, y, [&] {
      Tensor tx = tangent(x), ts = tangent(src);
      if (!ts.defined()) return tx;
      return scatter_add(tx.defined() ? tx : zeros(y.shape(), {.dtype = y.dtype()}), dim, index, ts);
    });
  return y;
}

// y = x[..., index[j], ...] along dim, index 1-D: a gather with the index stretched to y's shape
Tensor index_select(const Tensor& x, int dim, const Tensor& index) {
  kernels::check_defined("index_select", x);
  check_index("index_select", index);
  if (index.dim() != 1)
    fail<ShapeError>("index_select: the index must be 1-D, got shape {}; flatten it with reshape({{-1}})",
                     index.shape());
  if (x.dim() == 0) fail<ShapeError>("index_select: the input is 0-d; it needs a dim to index");
  dim = normalize_dim("index_select", dim, x.dim());
  Shape shape = x.shape(), at_dim;
  shape[dim] = index.shape()[0];
  for (int d = 0; d < x.dim(); ++d) at_dim.push_back(d == dim ? index.shape()[0] : 1);
  return gather(x, dim, expand(reshape(index, at_dim), shape));
}

namespace {

std::int64_t padding_row(const char* op, std::optional<std::int64_t> padding_idx, std::int64_t rows) {
  if (!padding_idx) return -1;
  if (*padding_idx < -rows || *padding_idx >= rows)
    fail<ValueError>("{}: padding_idx {} is out of range for {} embeddings; use one in [{}, {}]", op, *padding_idx,
                     rows, -rows, rows - 1);
  return *padding_idx < 0 ? *padding_idx + rows : *padding_idx;
}

}  // namespace

// y[..., :] = weight[ids[...], :]: one row of weight per id, y of shape ids.shape + [dim]
// dweight = embedding_backward(dy, ids, rows, padding_idx): the rows of dy added at their ids
// jvp: y' = embedding(weight', ids)   (linear, as PyTorch: the padding row's tangent is read too)
Tensor embedding(const Tensor& weight, const Tensor& ids, std::optional<std::int64_t> padding_idx) {
  kernels::check_input(op::embedding, weight, "the weight");
  check_index("embedding", ids, "the ids");
  if (weight.dim() != 2)
    fail<ShapeError>("embedding: the weight must be 2-D [num_embeddings, embedding_dim], got {}", weight.shape());
  const std::int64_t rows = weight.shape()[0], width = weight.shape()[1];
  const std::int64_t pad = padding_row("embedding", padding_idx, rows);
  Shape shape = ids.shape();
  if (shape.rank() >= Shape::kMaxRank)
    fail<ShapeError>("embedding: ids {} have {} dims; the result adds one, beyond the most a tensor has", ids.shape(),
                     ids.dim());
  shape.push_back(width);
  Tensor y = empty(shape, {.dtype = weight.dtype()});
  const std::int64_t* pi = ids.data<std::int64_t>();
  dispatch(weight.dtype(), [&]<class T>() {
    const T* pw = weight.data<T>();
    T* py = y.data<T>();
    for (std::int64_t i = 0, n = ids.numel(); i < n; ++i) {
      const std::int64_t r = checked("embedding", pi[i], rows, 0);
      std::copy(pw + r * width, pw + (r + 1) * width, py + i * width);
    }
  });
  if (should_record(weight))
    record(op::embedding, {weight, ids}, y, {ids}, [rows, pad](BackwardContext& ctx) {
      ctx.accumulate(0,
                     embedding_backward(ctx.grad(), ctx.saved(0), rows, pad < 0 ? std::nullopt : std::optional(pad)));
    });
  if (has_tangent(weight)) record_jvp(op::embedding, y, [&] { return embedding(tangent(weight), ids, padding_idx); });
  return y;
}

// y = zeros [rows, dim]; y[ids[i], :] += grad[i, :] for every i (repeated ids add up), except
// the padding row, which gets nothing
// dgrad = embedding(dy, ids), zero where ids == padding_idx
// jvp: y' = embedding_backward(grad', ids, rows, padding_idx)
Tensor embedding_backward(const Tensor& grad, const Tensor& ids, std::int64_t rows,
                          std::optional<std::int64_t> padding_idx) {
  kernels::check_input(op::embedding_backward, grad, "the gradient");
  check_index("embedding_backward", ids, "the ids");
  if (rows < 0) fail<ValueError>("embedding_backward: rows must be >= 0, got {}", rows);
  const std::int64_t pad = padding_row("embedding_backward", padding_idx, rows);
  bool fits = grad.dim() == ids.dim() + 1;
  for (int d = 0; fits && d < ids.dim(); ++d) fits = grad.shape()[d] == ids.shape()[d];
  if (!fits)
    fail<ShapeError>("embedding_backward: the gradient {} must have the ids' shape {} and one more dim (the width)",
                     grad.shape(), ids.shape());
  const std::int64_t width = grad.shape()[grad.dim() - 1];
  Tensor y = zeros({rows, width}, {.dtype = grad.dtype()});
  const std::int64_t* pi = ids.data<std::int64_t>();
  dispatch(grad.dtype(), [&]<class T>() {
    const T* pg = grad.data<T>();
    T* py = y.data<T>();
    for (std::int64_t i = 0, n = ids.numel(); i < n; ++i) {
      const std::int64_t r = checked("embedding_backward", pi[i], rows, 0);
      if (r == pad) continue;
      T* row = py + r * width;
      const T* g = pg + i * width;
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>)
        kernels::add_into(g, row, width);  // compiled per ISA level (isa/vecmath.hpp)
      else
        for (std::int64_t j = 0; j < width; ++j) row[j] += g[j];
    }
  });
  if (should_record(grad))
    record(op::embedding_backward, {grad, ids}, y, {ids}, [pad](BackwardContext& ctx) {
      const Tensor& i = ctx.saved(0);
      Tensor g = embedding(ctx.grad(), i);
      ctx.accumulate(0, pad < 0 ? g : masked_fill(g, unsqueeze(i == pad, -1), 0));
    });
  if (has_tangent(grad))
    record_jvp(op::embedding_backward, y, [&] { return embedding_backward(tangent(grad), ids, rows, padding_idx); });
  return y;
}

// The int64 one-hot rows of ids: y[..., c] = 1 where c == ids[...]; num_classes = -1: max + 1
Tensor one_hot(const Tensor& ids, std::int64_t num_classes) {
  check_index("one_hot", ids, "the class indices");
  std::int64_t n = num_classes;
  const std::int64_t* p = ids.data<std::int64_t>();
  if (n == -1) {
    if (ids.numel() == 0)
      fail<ValueError>("one_hot: cannot infer the number of classes from an empty tensor; pass num_classes");
    n = *std::max_element(p, p + ids.numel()) + 1;
  }
  if (n < 0) fail<ValueError>("one_hot: num_classes must be >= 0 or -1 (inferred), got {}", num_classes);
  Shape shape = ids.shape();
  shape.push_back(n);
  Tensor y = zeros(shape, {.dtype = kInt64});
  std::int64_t* py = y.data<std::int64_t>();
  for (std::int64_t i = 0; i < ids.numel(); ++i) {
    if (p[i] < 0 || p[i] >= n)
      fail<ValueError>("one_hot: class {} is out of range for {} classes; classes must be in [0, {}]", p[i], n, n - 1);
    py[i * n + p[i]] = 1;
  }
  return y;
}

// ---- max, min, argmax, argmin ----

namespace {

// The index along dim of the largest (Max = true) or smallest element of each [outer, n, inner]
// slice: the first one on a tie; a NaN wins and stays (as PyTorch).
template <bool Max>
Tensor pick_index(const char* op, const Tensor& x, int dim) {
  const kernels::Around a = kernels::around(x.shape(), dim);
  if (a.n == 0) fail<ValueError>("{}: dim {} of {} is empty: there is no element to pick", op, dim, x.shape());
  Tensor idx = empty(x.shape().without(dim), {.dtype = kInt64});
  std::int64_t* pi = idx.data<std::int64_t>();
  dispatch(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    for (std::int64_t o = 0; o < a.outer; ++o)
      for (std::int64_t k = 0; k < a.inner; ++k) {
        const T* base = px + o * a.n * a.inner + k;
        std::int64_t best = 0;
        for (std::int64_t j = 1; j < a.n; ++j) {
          const T v = base[j * a.inner], b = base[best * a.inner];
          if (b != b) break;  // a NaN is the answer
          if (v != v || (Max ? v > b : v < b)) best = j;
        }
        pi[o * a.inner + k] = best;
      }
  });
  return idx;
}

template <bool Max>
ValuesIndices max_or_min(const OpInfo& op, const Tensor& x, int dim, bool keepdim) {
  kernels::check_input(op, x);
  if (x.dim() == 0) fail<ShapeError>("{}: the input is 0-d; pass a dim only for a tensor that has one", op.name);
  dim = normalize_dim(op.name, dim, x.dim());
  Tensor idx = pick_index<Max>(op.name, x, dim);
  Tensor idx_kept = unsqueeze(idx, dim).detach();
  Tensor values = gather(x.detach(), dim, idx_kept);
  if (!keepdim) values = squeeze(values, dim).detach();
  Tensor indices = keepdim ? idx_kept : idx;
  std::vector<Tensor> outputs{values, indices};
  if (should_record(x)) {
    // Note: saved as a tensor of its own, not as output 1 (which it is with keepdim): the
    // caller may drop the indices and keep the values.
    const Tensor saved = idx_kept.detach();
    record(op, {x}, std::span<Tensor>(outputs), std::span<const Tensor>(&saved, 1),
           [dim, keepdim](BackwardContext& ctx) {
             const Tensor& g = ctx.grad(0);
             Tensor g_kept = keepdim ? g : unsqueeze(g, dim);
             ctx.accumulate(0, scatter_add(zeros(ctx.input_shape(0), {.dtype = g.dtype()}), dim, ctx.saved(0), g_kept));
           });
  }
  // jvp: values' = gather(x', dim, indices), the tangent at the picked element; indices: none
  if (has_tangent(x))
    record_jvp(op, std::span<const Tensor>(outputs), [&] {
      Tensor t = gather(tangent(x), dim, idx_kept);
      return std::vector<Tensor>{keepdim ? t : squeeze(t, dim), Tensor()};
    });
  return {outputs[0], outputs[1]};
}

// y = the largest (smallest) element; dx = dy shared evenly by the elements equal to y (as PyTorch)
// jvp: y' = mean of x' over the elements equal to y (as PyTorch; the adjoint of the backward)
template <bool Max>
Tensor max_or_min_all(const OpInfo& op, const Tensor& x) {
  kernels::check_input(op, x);
  if (x.numel() == 0)
    fail<ValueError>("{}: the input {} is empty: it has no {}", op.name, x.shape(), Max ? "maximum" : "minimum");
  Tensor flat = reshape(x.detach(), {x.numel()});
  Tensor y = reshape(gather(flat, 0, unsqueeze(pick_index<Max>(op.name, flat, 0), 0)), Shape{});
  y = y.detach();
  if (should_record(x))
    record(op, {x}, y, {x, y}, [](BackwardContext& ctx) {
      Tensor hit = ctx.saved(0) == ctx.saved(1);
      ctx.accumulate(0, where(hit, ctx.grad() / hit.sum(), 0));
    });
  if (has_tangent(x))
    record_jvp(op, y, [&] {
      Tensor hit = x == y;
      return where(hit, tangent(x), 0).sum() / hit.sum();
    });
  return y;
}

}  // namespace

ValuesIndices max(const Tensor& x, int dim, bool keepdim) { return max_or_min<true>(op::max, x, dim, keepdim); }
ValuesIndices min(const Tensor& x, int dim, bool keepdim) { return max_or_min<false>(op::min, x, dim, keepdim); }
Tensor max(const Tensor& x) { return max_or_min_all<true>(op::max_all, x); }
Tensor min(const Tensor& x) { return max_or_min_all<false>(op::min_all, x); }

// The index of the largest (smallest) element along dim; of the flattened tensor without a dim.
Tensor argmax(const Tensor& x, std::optional<int> dim, bool keepdim) {
  kernels::check_defined("argmax", x);
  if (!dim) return reshape(pick_index<true>("argmax", reshape(x.detach(), {x.numel()}), 0), Shape{});
  if (x.dim() == 0) return zeros({}, {.dtype = kInt64});
  const int d = normalize_dim("argmax", *dim, x.dim());
  Tensor idx = pick_index<true>("argmax", x, d);
  return keepdim ? unsqueeze(idx, d) : idx;
}

Tensor argmin(const Tensor& x, std::optional<int> dim, bool keepdim) {
  kernels::check_defined("argmin", x);
  if (!dim) return reshape(pick_index<false>("argmin", reshape(x.detach(), {x.numel()}), 0), Shape{});
  if (x.dim() == 0) return zeros({}, {.dtype = kInt64});
  const int d = normalize_dim("argmin", *dim, x.dim());
  Tensor idx = pick_index<false>("argmin", x, d);
  return keepdim ? unsqueeze(idx, d) : idx;
}

}  // namespace tg
