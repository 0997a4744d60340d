// SPDX-License-Identifier: MIT
// Broadcasting, and the one place where it is undone.
//
// Note: every binary op broadcasts its inputs, so every binary op's backward would need
// to sum its gradients back to the input shapes. Instead BackwardContext::accumulate calls
// sum_to once for all of them; op backwards are written as if shapes were equal.
#include <algorithm>

#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace kernels {

std::array<std::int64_t, Shape::kMaxRank> broadcast_strides(const Shape& in, const Shape& out) {
  std::array<std::int64_t, Shape::kMaxRank> s{};
  auto contiguous = in.strides();
  int offset = out.rank() - in.rank();
  for (int d = 0; d < in.rank(); ++d)
    s[static_cast<std::size_t>(d + offset)] = in[d] == 1 ? 0 : contiguous[static_cast<std::size_t>(d)];
  return s;
}

}  // namespace kernels

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  if (a == b || b.rank() == 0) return a;  // the common cases, without a loop
  if (a.rank() == 0) return b;
  int rank = std::max(a.rank(), b.rank());
  Shape out;
  for (int d = 0; d < rank; ++d) {
    int da = d - (rank - a.rank()), db = d - (rank - b.rank());
    std::int64_t sa = da >= 0 ? a[da] : 1, sb = db >= 0 ? b[db] : 1;
    if (sa != sb && sa != 1 && sb != 1)
      fail<ShapeError>(
          "{}: shapes {} and {} cannot be broadcast: dim {} (from the right) has sizes {} and {}; each pair of "
          "sizes must be equal or one of them 1 (reshape one operand)",
          op, a, b, rank - d, sa, sb);
    out.push_back(sa == 1 ? sb : sa);
  }
  return out;
}

// y = expand(x, shape): y[i] = x[i with stretched dims set to 0]
// dx = sum_to(dy, x.shape)   (done by BackwardContext::accumulate)
// jvp: y' = expand(x', shape)
Tensor expand(const Tensor& x, const Shape& shape) {
  kernels::check_input(op::expand, x);
  // A 0-d tensor (sum's gradient) stretches to any shape.
  if (x.dim() != 0 && !(broadcast_shapes("expand", x.shape(), shape) == shape))
    fail<ShapeError>("expand: cannot expand {} to {}; only dims of size 1 can be stretched", x.shape(), shape);
  shape.numel("expand");  // throws ShapeError, naming expand, if the count overflows int64
  if (x.shape() == shape) return x;
  Tensor y = empty(shape, {.dtype = x.dtype()});
  dispatch(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    if (x.numel() == 1) {  // a scalar stretched everywhere (sum's backward): a fill
      std::fill(py, py + y.numel(), px[0]);
      return;
    }
    auto sx = kernels::broadcast_strides(x.shape(), shape);
    kernels::for_each_row(
        shape, sx, sx,
        [&](std::int64_t o, std::int64_t ix, std::int64_t, std::int64_t n, std::int64_t s, std::int64_t) {
          for (std::int64_t j = 0; j < n; ++j) py[o + j] = px[ix + j * s];
        });
  });
  if (should_record(x)) record(op::expand, {x}, y, {}, [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad()); });
  if (has_tangent(x)) record_jvp(op::expand, y, [&] { return expand(tangent(x), shape); });
  return y;
}

// y = sum_to(x, shape): y[j] = sum of x[i] over the i that broadcast onto j
// dx = expand(dy, x.shape)
// jvp: y' = sum_to(x', shape)
Tensor sum_to(const Tensor& x, const Shape& shape) {
  kernels::check_input(op::sum_to, x);
  // Every shape of ones no longer than x's broadcasts to it: the check below is then a formality.
  const bool to_one = shape.numel() == 1 && shape.rank() <= x.dim();
  if (!to_one && !(broadcast_shapes("sum_to", shape, x.shape()) == x.shape()))
    fail<ShapeError>("sum_to: cannot sum {} to {}; {} must broadcast to {}", x.shape(), shape, shape, x.shape());
  if (x.shape() == shape) return x;
  Tensor y = to_one ? empty(shape, {.dtype = x.dtype()}) : zeros(shape, {.dtype = x.dtype()});
  dispatch_numeric("sum_to", x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    if (shape.numel() == 1) {
      py[0] = kernels::vec<T>(x).sum();
      return;
    }
    kernels::for_each_row(
        x.shape(), kernels::broadcast_strides(x.shape(), x.shape()), kernels::broadcast_strides(shape, x.shape()),
        [&](std::int64_t o, std::int64_t, std::int64_t iy, std::int64_t n, std::int64_t, std::int64_t s) {
          if (s == 0)  // the row sums into one element (a per-channel sum over H and W)
            py[iy] += Eigen::Map<const kernels::Array<T>>(px + o, n).sum();
          else
            for (std::int64_t j = 0; j < n; ++j) py[iy + j * s] += px[o + j];
        });
  });
  if (should_record(x))
    record(op::sum_to, {x}, y, {},
           [](BackwardContext& ctx) { ctx.accumulate(0, expand(ctx.grad(), ctx.input_shape(0))); });
  if (has_tangent(x)) record_jvp(op::sum_to, y, [&] { return sum_to(tangent(x), shape); });
  return y;
}

}  // namespace tg
