// SPDX-License-Identifier: MIT
// Masking and choice: where, masked_fill, tril and triu. Conditions and masks are bool
// tensors (a comparison gives one: x > 0); none of them gets a gradient.
#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

void check_bool(const char* op, const Tensor& t, const char* what) {
  kernels::check_defined(op, t, what);
  if (t.dtype() != kBool)
    fail<DtypeError>(
        "{}: {} must be a bool tensor, got {} {}; compare to make one (x > 0) or convert with .to(tg::kBool)", op, what,
        dtype_name(t.dtype()), t.shape());
}

// out[i] = pick(c[i], a[i], b[i]) with c, a and b read with their broadcast strides into
// `shape`; a and b have one dtype, which out takes.
template <class F>
Tensor select3(const Tensor& c, const Tensor& a, const Tensor& b, const Shape& shape, F pick) {
  Tensor out = empty(shape, {.dtype = a.dtype()});
  const std::int64_t n = shape.numel();
  if (n == 0) return out;
  const auto sc = kernels::broadcast_strides(c.shape(), shape);
  const auto sa = kernels::broadcast_strides(a.shape(), shape);
  const auto sb = kernels::broadcast_strides(b.shape(), shape);
  const bool* pc = c.data<bool>();
  dispatch(a.dtype(), [&]<class T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    if (c.shape() == shape && a.shape() == shape && b.shape() == shape) {
      for (std::int64_t i = 0; i < n; ++i) po[i] = pick(pc[i], pa[i], pb[i]);
      return;
    }
    const int r = shape.rank();
    std::array<std::int64_t, Shape::kMaxRank> index{};  // odometer over the dims of out
    std::int64_t oc = 0, oa = 0, ob = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      po[i] = pick(pc[oc], pa[oa], pb[ob]);
      for (int d = r - 1; d >= 0; --d) {
        const auto du = static_cast<std::size_t>(d);
        ++index[du];
        oc += sc[du], oa += sa[du], ob += sb[du];
        if (index[du] < shape[d]) break;
        oc -= sc[du] * shape[d], oa -= sa[du] * shape[d], ob -= sb[du] * shape[d];
        index[du] = 0;
      }
    }
  });
  return out;
}

// The entries of the last two dims kept by tril (lower = true) or triu, others zero.
Tensor triangle(const OpInfo& op, const Tensor& x, std::int64_t diagonal, bool lower) {
  kernels::check_input(op, x);
  if (x.dim() < 2)
    fail<ShapeError>("{}: the input must have at least 2 dims (the matrix is the last two), got shape {}", op.name,
                     x.shape());
  const std::int64_t rows = x.shape()[x.dim() - 2], cols = x.shape()[x.dim() - 1];
  Tensor y = empty(x.shape(), {.dtype = x.dtype()});
  dispatch(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const std::int64_t matrices = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
    for (std::int64_t m = 0; m < matrices; ++m)
      for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < cols; ++j) {
          const std::int64_t k = (m * rows + i) * cols + j;
          const bool keep = lower ? j - i <= diagonal : j - i >= diagonal;
          py[k] = keep ? px[k] : T(0);
        }
  });
  if (should_record(x))
    record(op, {x}, y, {}, [diagonal, lower](BackwardContext& ctx) {
      ctx.accumulate(0, lower ? tril(ctx.grad(), diagonal) : triu(ctx.grad(), diagonal));
    });
  if (has_tangent(x))
    record_jvp(op, y, [&] { return lower ? tril(tangent(x), diagonal) : triu(tangent(x), diagonal); });
  return y;
}

}  // namespace

// y = cond ? a : b   (cond, a and b broadcast together)
// da = where(cond, dy, 0),  db = where(cond, 0, dy)   (summed back to each operand's shape)
// jvp: y' = where(cond, a', b')   (0 for an operand without a tangent)
Tensor where(const Tensor& cond, const Tensor& a_in, const Tensor& b_in) {
  check_bool("where", cond, "the condition");
  kernels::check_input(op::where, a_in, "the first value");
  kernels::check_input(op::where, b_in, "the second value");
  const Shape shape = broadcast_shapes("where", broadcast_shapes("where", cond.shape(), a_in.shape()), b_in.shape());
  const Dtype dtype = kernels::result_type(a_in, b_in);
  Tensor a_holder, b_holder;
  const Tensor& a = kernels::cast(a_in, dtype, a_holder);
  const Tensor& b = kernels::cast(b_in, dtype, b_holder);
  Tensor y = select3(cond, a, b, shape, [](bool c, auto u, auto v) { return c ? u : v; });
  if (should_record(a_in, b_in))
    record(op::where, {cond, a_in, b_in}, y, {cond}, [](BackwardContext& ctx) {
      const Tensor& c = ctx.saved(0);
      if (ctx.needs(1)) ctx.accumulate(1, where(c, ctx.grad(), 0));
      if (ctx.needs(2)) ctx.accumulate(2, where(c, 0, ctx.grad()));
    });
  if (has_tangent(a_in, b_in))
    record_jvp(op::where, y, [&] {
      const Tensor ta = tangent(a_in), tb = tangent(b_in);
      Tensor t = !tb.defined() ? where(cond, ta, 0) : !ta.defined() ? where(cond, 0, tb) : where(cond, ta, tb);
      return t.shape() == shape ? t : expand(t, shape);  // an operand smaller than the output
    });
  return y;
}

// A number takes part as a 0-d tensor: it does not raise the dtype of a tensor of its kind
// (where(c, x, 0) keeps x's float32), as in PyTorch.
Tensor where(const Tensor& cond, const Tensor& a, Scalar b) {
  kernels::check_defined("where", a, "the first value");
  return where(cond, a, scalar(b, {.dtype = kernels::result_type(a, b)}));
}

Tensor where(const Tensor& cond, Scalar a, const Tensor& b) {
  kernels::check_defined("where", b, "the second value");
  return where(cond, scalar(a, {.dtype = kernels::result_type(b, a)}), b);
}

// y = x, with `value` where mask is true   (mask broadcasts to x's shape)
// dx = masked_fill(dy, mask, 0)
// jvp: y' = masked_fill(x', mask, 0)
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value) {
  kernels::check_input(op::masked_fill, x);
  check_bool("masked_fill", mask, "the mask");
  if (!(broadcast_shapes("masked_fill", x.shape(), mask.shape()) == x.shape()))
    fail<ShapeError>(
        "masked_fill: the mask {} does not broadcast to the input {}; it must have the input's shape "
        "or one that stretches to it",
        mask.shape(), x.shape());
  if (!x.is_floating_point() && value.is_floating())
    fail<DtypeError>(
        "masked_fill: the value {} is not a whole number and the input is {}; convert the input with "
        ".to(tg::kFloat32) first",
        value.to_double(), dtype_name(x.dtype()));
  Tensor y = select3(mask, x, x, x.shape(), [v = value](bool m, auto u, auto) { return m ? v.to<decltype(u)>() : u; });
  if (should_record(x))
    record(op::masked_fill, {x, mask}, y, {mask},
           [](BackwardContext& ctx) { ctx.accumulate(0, masked_fill(ctx.grad(), ctx.saved(0), 0)); });
  if (has_tangent(x)) record_jvp(op::masked_fill, y, [&] { return masked_fill(tangent(x), mask, 0); });
  return y;
}

// y = x with the entries above the diagonal-th diagonal zeroed (j - i > diagonal)
// dx = tril(dy, diagonal)
// jvp: y' = tril(x', diagonal)
Tensor tril(const Tensor& x, std::int64_t diagonal) { return triangle(op::tril, x, diagonal, true); }

// y = x with the entries below the diagonal-th diagonal zeroed (j - i < diagonal)
// dx = triu(dy, diagonal)
// jvp: y' = triu(x', diagonal)
Tensor triu(const Tensor& x, std::int64_t diagonal) { return triangle(op::triu, x, diagonal, false); }

}  // namespace tg
