// SPDX-License-Identifier: MIT
#pragma once
// Private helpers shared by the op files: Eigen views of tensor buffers, the checks every op
// starts with, and the loops every elementwise op needs. Ops stay short because the loops live
// here, once.
#include "eigen_core.hpp"  // Eigen/Core, without GCC 12's false warnings in the intrinsics

#include <limits>

#include "isa/vecmath.hpp"
#include "ops/parallel_for.hpp"
#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/registry.hpp"
#include "tapegrad/tape.hpp"
#include "tapegrad/tensor.hpp"

namespace tg::kernels {

template <class T>
using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T>
using RowMajorMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The sizes around `dim` of a shape: a tensor of that shape is [outer, n, inner] in row-major
// order, n = shape[dim] (a 0-d shape is one element: 1, 1, 1).
struct Around {
  std::int64_t outer = 1, n = 1, inner = 1;
};
inline Around around(const Shape& shape, int dim) {
  Around a;
  for (int d = 0; d < shape.rank(); ++d) {
    if (d < dim) a.outer *= shape[d];
    if (d == dim) a.n = shape[d];
    if (d > dim) a.inner *= shape[d];
  }
  return a;
}

// The buffer of t as a flat Eigen array (no copy).
template <class T>
Eigen::Map<Array<T>> vec(const Tensor& t) {
  return {t.data<T>(), static_cast<Eigen::Index>(t.numel())};
}

// rows x cols of t's buffer, starting at element `offset`, as a row-major matrix (no copy).
template <class T>
Eigen::Map<RowMajorMatrix<T>> mat(const Tensor& t, std::int64_t rows, std::int64_t cols, std::int64_t offset = 0) {
  return {t.data<T>() + offset, static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols)};
}

// Refuses an undefined (default-constructed) tensor where an op needs data, naming the op
// and the input: otherwise the first read of it would fail without saying which op it was.
inline void check_defined(const char* op, const Tensor& t, const char* what = "the input") {
  if (!t.defined())
    fail<ValueError>("{}: {} is an undefined tensor (default-constructed); pass a tensor with data", op, what);
}

// Refuses t (defined) unless `op` accepts its dtype (OpInfo::dtypes), naming both and the fix.
void fail_dtype(const OpInfo& op, const Tensor& t, const char* what);
inline void check_dtype(const OpInfo& op, const Tensor& t, const char* what = "the input") {
  if (!op.dtypes.contains(t.dtype())) [[unlikely]]
    fail_dtype(op, t, what);
}
// check_defined, then check_dtype: what most ops start with, per tensor input.
inline void check_input(const OpInfo& op, const Tensor& t, const char* what = "the input") {
  check_defined(op.name, t, what);
  check_dtype(op, t, what);
}

// t as dtype d, for use inside a kernel: the conversion is never recorded, since the op
// records its original inputs.
inline Tensor cast(const Tensor& t, Dtype d) { return t.dtype() == d ? t : t.detach().to(d); }
// The same without copying the handle when t already has dtype d (a handle copy is an atomic
// update, and the small ops run several per call): the converted tensor, if any, goes to `holder`.
const Tensor& cast_into(const Tensor& t, Dtype d, Tensor& holder);  // holder = t converted
inline const Tensor& cast(const Tensor& t, Dtype d, Tensor& holder) {
  return t.dtype() == d ? t : cast_into(t, d, holder);
}

// The dtype of a binary op's result, by PyTorch's rules: dims > 0 outrank 0-d tensors, which
// outrank plain numbers, except that a lower rank of a higher category (bool < integer <
// floating) still lifts the result to that category: an int64 [3] times a float64 0-d tensor
// is float64, a float32 [3] times one is float32.
Dtype promoted_type(const Tensor& a, const Tensor& b);
inline Dtype result_type(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() ? a.dtype() : promoted_type(a, b);
}
Dtype result_type(const Tensor& a, Scalar b);

// y = f(x) for one of the functions compiled per instruction-set level (isa/vecmath.hpp), in
// x's dtype (which must be floating: the op checked it), split over threads when x is large.
inline Tensor map_fn(const char* op, const Tensor& x, UnaryFn f) {
  check_defined(op, x);
  Tensor y = empty(x.shape(), {.dtype = x.dtype()});
  dispatch_floating(op, x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(x.numel(), 1,
                 [&](std::int64_t begin, std::int64_t end) { unary(f, px + begin, py + begin, end - begin); });
  });
  return y;
}

// y = f(x) for an Eigen array expression f, e.g. [](auto x) { return x.abs(); }, in x's dtype
// (which must be floating: the op checked it), split over threads when x is large.
template <class F>
Tensor map(const char* op, const Tensor& x, F f) {
  check_defined(op, x);
  Tensor y = empty(x.shape(), {.dtype = x.dtype()});
  dispatch_floating(op, x.dtype(), [&]<class T>() {
    auto vx = vec<T>(x);
    auto vy = vec<T>(y);
    parallel_for(x.numel(), 1, [&](std::int64_t begin, std::int64_t end) {
      vy.segment(begin, end - begin) = f(vx.segment(begin, end - begin));
    });
  });
  return y;
}

// out[i] = f(a[i], b[i]) with a scalar function f, for tensors of one shape, in a's dtype (b is
// converted to it), split over threads when large: the backward of an elementwise op, such as
// dx = dy * y * (1 - y).
template <class F>
Tensor zip(const char* op, const Tensor& a, const Tensor& b_in, F f) {
  Tensor out = empty(a.shape(), {.dtype = a.dtype()});
  Tensor holder;
  const Tensor& b = cast(b_in, a.dtype(), holder);
  dispatch_floating(op, a.dtype(), [&]<class T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    parallel_for(a.numel(), 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) po[i] = f(pa[i], pb[i]);
    });
  });
  return out;
}

// The strides with which a tensor of shape `in` is read when broadcast to `out`:
// right-aligned, 0 along dims that are stretched or missing.
std::array<std::int64_t, Shape::kMaxRank> broadcast_strides(const Shape& in, const Shape& out);

// Calls f(offset_out, offset_a, offset_b, n, stride_a, stride_b) for each run of the
// innermost dim of `out`, where a and b are read with the given broadcast strides.
template <class F>
void for_each_row(const Shape& out, const std::array<std::int64_t, Shape::kMaxRank>& sa,
                  const std::array<std::int64_t, Shape::kMaxRank>& sb, F f) {
  int r = out.rank();
  if (out.numel() == 0) return;
  if (r == 0) {
    f(0, 0, 0, 1, 0, 0);
    return;
  }
  std::int64_t inner = out[r - 1];
  std::int64_t rows = out.numel() / inner;
  std::array<std::int64_t, Shape::kMaxRank> index{};  // odometer over the outer dims
  std::int64_t oa = 0, ob = 0;
  for (std::int64_t row = 0; row < rows; ++row) {
    f(row * inner, oa, ob, inner, sa[static_cast<std::size_t>(r - 1)], sb[static_cast<std::size_t>(r - 1)]);
    for (int d = r - 2; d >= 0; --d) {
      auto du = static_cast<std::size_t>(d);
      ++index[du];
      oa += sa[du];
      ob += sb[du];
      if (index[du] < out[d]) break;
      oa -= sa[du] * out[d];
      ob -= sb[du] * out[d];
      index[du] = 0;
    }
  }
}

// out = f(a, b) elementwise with broadcasting, f a scalar function, both operands converted to
// `compute`. The result has that dtype, or is bool for a comparison (Compare = true). Same-shape
// and scalar operands take straight loops the compiler vectorises.
template <bool Compare = false, class F>
Tensor broadcast_binary(const char* op, const Tensor& a_in, const Tensor& b_in, Dtype compute, F f) {
  Tensor a_holder, b_holder;
  const Tensor& a = cast(a_in, compute, a_holder);
  const Tensor& b = cast(b_in, compute, b_holder);
  const bool same = a.shape() == b.shape();
  Shape broadcast;  // only when the shapes differ: a Shape is not free to copy
  const Shape& shape = same ? a.shape() : (broadcast = broadcast_shapes(op, a.shape(), b.shape()));
  Tensor out = empty(shape, {.dtype = Compare ? kBool : compute});
  dispatch(compute, [&]<class T>() {
    using R = std::conditional_t<Compare, bool, T>;
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    R* po = out.data<R>();
    std::int64_t n = out.numel();
    if (same) {
      for (std::int64_t i = 0; i < n; ++i) po[i] = static_cast<R>(f(pa[i], pb[i]));
    } else if (b.numel() == 1 && a.shape() == shape) {
      const T s = pb[0];
      for (std::int64_t i = 0; i < n; ++i) po[i] = static_cast<R>(f(pa[i], s));
    } else if (a.numel() == 1 && b.shape() == shape) {
      const T s = pa[0];
      for (std::int64_t i = 0; i < n; ++i) po[i] = static_cast<R>(f(s, pb[i]));
    } else {
      for_each_row(
          shape, broadcast_strides(a.shape(), shape), broadcast_strides(b.shape(), shape),
          [&](std::int64_t o, std::int64_t ia, std::int64_t ib, std::int64_t len, std::int64_t sa, std::int64_t sb) {
            for (std::int64_t j = 0; j < len; ++j) po[o + j] = static_cast<R>(f(pa[ia + j * sa], pb[ib + j * sb]));
          });
    }
  });
  return out;
}

// out = f(a, s) elementwise for a number s, in the dtype `compute` (a converted to it).
template <class F>
Tensor scalar_binary(const Tensor& a_in, Scalar s, Dtype compute, F f) {
  Tensor holder;
  const Tensor& a = cast(a_in, compute, holder);
  Tensor out = empty(a.shape(), {.dtype = compute});
  dispatch(compute, [&]<class T>() {
    const T* pa = a.data<T>();
    T* po = out.data<T>();
    const T v = s.to<T>();
    for (std::int64_t i = 0, n = a.numel(); i < n; ++i) po[i] = static_cast<T>(f(pa[i], v));
  });
  return out;
}

}  // namespace tg::kernels
