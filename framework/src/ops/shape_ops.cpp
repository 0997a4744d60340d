// SPDX-License-Identifier: MIT
// Shape ops: reshape (a view), transpose and permute (copies; tensors stay contiguous).
#include <span>

#include "block_pool.hpp"
#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

using Dims = std::array<int, Shape::kMaxRank>;

// A permutation of at most kMaxRank dims, one byte each: small enough to keep inline in a
// backward function.
std::array<std::int8_t, Shape::kMaxRank> compact(const Dims& dims, int rank) {
  std::array<std::int8_t, Shape::kMaxRank> out{};
  for (int k = 0; k < rank; ++k)
    out[static_cast<std::size_t>(k)] = static_cast<std::int8_t>(dims[static_cast<std::size_t>(k)]);
  return out;
}

// y = x with its dims reordered: dim k of y is dim dims[k] of x
// dx = permute(dy, inverse(dims))
// jvp: y' = permute(x', dims)
Tensor permute_dims(const Tensor& x, std::span<const int> order) {
  kernels::check_input(op::permute, x);
  int r = x.dim();
  if (static_cast<int>(order.size()) != r)
    fail<ShapeError>("permute: got {} dims for a tensor of shape {}; give each of its {} dims once", order.size(),
                     x.shape(), r);
  Dims dims{}, inverse{};
  std::array<bool, Shape::kMaxRank> seen{};
  for (int k = 0; k < r; ++k) {
    int d = normalize_dim("permute", order[static_cast<std::size_t>(k)], r);
    if (seen[static_cast<std::size_t>(d)])
      fail<ValueError>("permute: dim {} appears twice in the permutation of {}; each dim must appear once", d,
                       x.shape());
    seen[static_cast<std::size_t>(d)] = true;
    dims[static_cast<std::size_t>(k)] = d;
    inverse[static_cast<std::size_t>(d)] = k;
  }
  Shape y_shape;
  std::array<std::int64_t, Shape::kMaxRank> read_strides{};  // x's stride along each dim of y
  auto x_strides = x.shape().strides();
  for (int k = 0; k < r; ++k) {
    auto d = static_cast<std::size_t>(dims[static_cast<std::size_t>(k)]);
    y_shape.push_back(x.shape()[static_cast<int>(d)]);
    read_strides[static_cast<std::size_t>(k)] = x_strides[d];
  }
  Tensor y = empty(y_shape, {.dtype = x.dtype()});
  dispatch(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    kernels::for_each_row(
        y_shape, read_strides, read_strides,
        [&](std::int64_t o, std::int64_t ix, std::int64_t, std::int64_t n, std::int64_t s, std::int64_t) {
          for (std::int64_t j = 0; j < n; ++j) py[o + j] = px[ix + j * s];
        });
  });
  if (should_record(x))
    record(op::permute, {x}, y, {}, [inverse = compact(inverse, r), r](BackwardContext& ctx) {
      std::array<int, Shape::kMaxRank> dims{};
      for (int k = 0; k < r; ++k) dims[static_cast<std::size_t>(k)] = inverse[static_cast<std::size_t>(k)];
      ctx.accumulate(0, permute_dims(ctx.grad(), std::span<const int>(dims.data(), static_cast<std::size_t>(r))));
    });
  if (has_tangent(x))
    record_jvp(op::permute, y, [&] {
      return permute_dims(tangent(x), std::span<const int>(dims.data(), static_cast<std::size_t>(r)));
    });
  return y;
}

}  // namespace

// y = x with another shape (same data, same row-major order)
// dx = reshape(dy, x.shape)
// jvp: y' = reshape(x', shape)
Tensor reshape(const Tensor& x, const Shape& shape) {
  kernels::check_input(op::reshape, x);
  if (shape.numel("reshape") != x.numel())
    fail<ShapeError>("reshape: cannot view {} ({} elements) as {} ({} elements); the element counts must match",
                     x.shape(), x.numel(), shape, shape.numel());
  if (shape == x.shape()) return x;
  Tensor y(detail::make_impl(shape, x.dtype(), x.impl().storage));  // a view: no copy
  if (should_record(x))
    record(op::reshape, {x}, y, {},
           [](BackwardContext& ctx) { ctx.accumulate(0, reshape(ctx.grad(), ctx.input_shape(0))); });
  if (has_tangent(x)) record_jvp(op::reshape, y, [&] { return reshape(tangent(x), shape); });
  return y;
}

// y = x: a new handle on the same data (make_dual's view)
// dx = dy;  jvp: dy = dx
Tensor alias(const Tensor& x) {
  kernels::check_input(op::alias, x);
  Tensor y(detail::make_impl(x.shape(), x.dtype(), x.impl().storage));
  if (should_record(x)) record(op::alias, {x}, y, {}, [](BackwardContext& ctx) { ctx.accumulate(0, ctx.grad()); });
  if (has_tangent(x)) record_jvp(op::alias, y, [&] { return tangent(x); });
  return y;
}

Tensor reshape(const Tensor& x, std::initializer_list<std::int64_t> sizes) {
  kernels::check_defined("reshape", x);
  Shape shape;
  int inferred = -1;
  std::int64_t known = 1;
  for (std::int64_t s : sizes) {
    if (s == -1) {
      if (inferred >= 0)
        fail<ShapeError>("reshape: only one dim can be -1, got [{}]; give the other sizes explicitly",
                         fmt::join(sizes, ", "));
      inferred = shape.rank();
      shape.push_back(0);
      continue;
    }
    if (s < 0)
      fail<ShapeError>("reshape: invalid size {} in [{}]; sizes must be >= 0 or -1", s, fmt::join(sizes, ", "));
    shape.push_back(s);
    if (__builtin_mul_overflow(known, s, &known)) shape.numel("reshape");  // throws, naming the dims
  }
  if (inferred >= 0) {
    if (known == 0 || x.numel() % known != 0)
      fail<ShapeError>("reshape: cannot view {} ({} elements) as [{}]; the -1 dim cannot be inferred", x.shape(),
                       x.numel(), fmt::join(sizes, ", "));
    shape[inferred] = x.numel() / known;
  }
  return reshape(x, shape);
}

Tensor permute(const Tensor& x, std::initializer_list<int> dims) {
  return permute_dims(x, std::span<const int>(dims.begin(), dims.size()));
}

// transpose(x, d0, d1) = permute(x, identity with d0 and d1 swapped)
Tensor transpose(const Tensor& x, int dim0, int dim1) {
  kernels::check_defined("transpose", x);
  int r = x.dim();
  if (r == 0) return x;
  dim0 = normalize_dim("transpose", dim0, r);
  dim1 = normalize_dim("transpose", dim1, r);
  Dims dims{};
  for (int k = 0; k < r; ++k) dims[static_cast<std::size_t>(k)] = k;
  std::swap(dims[static_cast<std::size_t>(dim0)], dims[static_cast<std::size_t>(dim1)]);
  return permute_dims(x, std::span<const int>(dims.data(), static_cast<std::size_t>(r)));
}

}  // namespace tg
