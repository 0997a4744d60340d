// SPDX-License-Identifier: MIT
// Matrix product with torch.matmul's rules (batch dims broadcast, 1-D operands are vectors).
#include "isa/gemm.hpp"
#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

Shape batch_dims(const Shape& s) {
  Shape out;
  for (int d = 0; d + 2 < s.rank(); ++d) out.push_back(s[d]);
  return out;
}

// Y[..., n, m] = A[..., n, k] B[..., k, m], for operands of rank >= 2.
Tensor batched_matmul(const Tensor& a_in, const Tensor& b_in) {
  const Shape &sa = a_in.shape(), &sb = b_in.shape();
  std::int64_t n = sa[sa.rank() - 2], k = sa[sa.rank() - 1], m = sb[sb.rank() - 1];
  Shape batch_a = batch_dims(sa), batch_b = batch_dims(sb);
  Shape batch;
  try {
    batch = broadcast_shapes("matmul", batch_a, batch_b);
  } catch (const ShapeError&) {  // name the operands, not just their batch dims
    fail<ShapeError>(
        "matmul: shapes {} and {} cannot be multiplied: their batch dims {} and {} do not broadcast; each pair "
        "of batch sizes must be equal or one of them 1",
        sa, sb, batch_a, batch_b);
  }
  Shape out_shape = batch;
  out_shape.push_back(n);
  out_shape.push_back(m);

  Dtype dtype = kernels::result_type(a_in, b_in);
  Tensor a_holder, b_holder;
  const Tensor& a = kernels::cast(a_in, dtype, a_holder);
  const Tensor& b = kernels::cast(b_in, dtype, b_holder);
  Tensor y = empty(out_shape, {.dtype = dtype});
  auto stride_a = kernels::broadcast_strides(batch_a, batch), stride_b = kernels::broadcast_strides(batch_b, batch);
  auto batch_strides = batch.strides();
  dispatch_floating("matmul", dtype, [&]<class T>() {
    for (std::int64_t i = 0, count = batch.numel(); i < count; ++i) {
      std::int64_t ia = 0, ib = 0;  // which matrix of a and of b batch element i reads
      for (int d = 0; d < batch.rank(); ++d) {
        std::int64_t idx = i / batch_strides[static_cast<std::size_t>(d)] % batch[d];
        ia += idx * stride_a[static_cast<std::size_t>(d)];
        ib += idx * stride_b[static_cast<std::size_t>(d)];
      }
      kernels::gemm<T>(false, false, n, m, k, T(1), a.data<T>() + ia * n * k, k, b.data<T>() + ib * k * m, m, T(0),
                       y.data<T>() + i * n * m, m);
    }
  });
  return y;
}

}  // namespace

// Y = A B
// dA = dY B^T,  dB = A^T dY   (summed over broadcast batch dims by BackwardContext::accumulate)
// Under create_graph both are matmuls, recorded: bilinear in (dY, B) and (A, dY), so e.g. the
// Hessian of x^T A x is A + A^T.
// jvp: Y' = A' B + A B'   (a vector operand: through the reshapes, which carry its tangent)
Tensor matmul(const Tensor& a, const Tensor& b) {
  kernels::check_input(op::matmul, a, "the first operand");
  kernels::check_input(op::matmul, b, "the second operand");
  if (a.dim() == 0 || b.dim() == 0)
    fail<ShapeError>("matmul: both operands need at least 1 dim, got shapes {} and {}; use mul for scalars", a.shape(),
                     b.shape());
  // Checked before vectors become matrices, so that the message shows the caller's shapes.
  std::int64_t k = a.shape()[a.dim() - 1], k_b = b.shape()[b.dim() == 1 ? 0 : b.dim() - 2];
  if (k != k_b)
    fail<ShapeError>(
        "matmul: shapes {} and {} cannot be multiplied: the first has {} columns but the second has {} "
        "rows; they must be equal (transpose or reshape one operand)",
        a.shape(), b.shape(), k, k_b);
  // A vector is a [1, k] row on the left or a [k, 1] column on the right; the added dim
  // is removed from the result. Going through reshape keeps the gradients flowing.
  if (a.dim() == 1 || b.dim() == 1) {
    Tensor a2 = a.dim() == 1 ? reshape(a, {1, a.shape()[0]}) : a;
    Tensor b2 = b.dim() == 1 ? reshape(b, {b.shape()[0], 1}) : b;
    Tensor y = matmul(a2, b2);
    Shape out;
    for (int d = 0; d < y.dim(); ++d)
      if (!((a.dim() == 1 && d == y.dim() - 2) || (b.dim() == 1 && d == y.dim() - 1))) out.push_back(y.shape()[d]);
    return reshape(y, out);
  }
  Tensor y = batched_matmul(a, b);
  if (should_record(a, b))
    record(op::matmul, {a, b}, y, {saved_for(b, a), saved_for(a, b)}, [](BackwardContext& ctx) {
      if (ctx.create_graph()) {
        if (ctx.needs(0)) ctx.accumulate(0, matmul(ctx.grad(), transpose(ctx.saved(0), -1, -2)));
        if (ctx.needs(1)) ctx.accumulate(1, matmul(transpose(ctx.saved(1), -1, -2), ctx.grad()));
        return;
      }
      if (ctx.needs(0)) ctx.accumulate(0, batched_matmul(ctx.grad(), transpose(ctx.saved(0), -1, -2)));
      if (ctx.needs(1)) ctx.accumulate(1, batched_matmul(transpose(ctx.saved(1), -1, -2), ctx.grad()));
    });
  if (has_tangent(a, b))
    record_jvp(op::matmul, y, [&] {
      const Tensor ta = tangent(a), tb = tangent(b);
      return add_tangents(ta.defined() ? matmul(ta, b) : Tensor(), tb.defined() ? matmul(a, tb) : Tensor());
    });
  return y;
}

}  // namespace tg
