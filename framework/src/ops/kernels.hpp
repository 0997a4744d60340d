#pragma once
// Private helpers shared by the op files: Eigen views of tensor buffers and the loops
// every elementwise op needs. Ops stay short because the loops live here, once.
// Note: with -O3 -march=native, GCC 12 reports `__Y is (maybe) used uninitialized` inside
// avx512fintrin.h, where Eigen's AVX-512 packets come from (GCC bug 105593: the
// intrinsics initialise a variable with itself on purpose). The pragmas silence exactly
// those two warnings, for the headers parsed here (Eigen pulls in avx512fintrin.h).
#if defined(__GNUC__) && !defined(__clang__)  // clang has no -Wmaybe-uninitialized (nor these false positives)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tensor.hpp"

namespace tg::kernels {

template <class T>
using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T>
using RowMajorMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

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

// t as dtype d, for use inside a kernel: the conversion is never recorded, since the op
// records its original inputs.
inline Tensor cast(const Tensor& t, Dtype d) { return t.dtype() == d ? t : t.detach().to(d); }

// y = f(x) for an Eigen array expression f, e.g. [](auto x) { return x.exp(); }; `op`
// names the op in the error for an undefined x.
template <class F>
Tensor map(const char* op, const Tensor& x, F f) {
  check_defined(op, x);
  Tensor y = empty(x.shape(), {.dtype = x.dtype()});
  dispatch(x.dtype(), [&]<class T>() { vec<T>(y) = f(vec<T>(x)); });
  return y;
}

// out[i] = f(a[i], b[i]) for same-shaped tensors, with a scalar function f. Used by
// backward formulas such as dx = dy * y * (1 - y).
template <class F>
Tensor zip(const Tensor& a, const Tensor& b, F f) {
  Tensor out = empty(a.shape(), {.dtype = a.dtype()});
  Tensor b_converted;  // used only if b's dtype differs
  const Tensor& bb = b.dtype() == a.dtype() ? b : (b_converted = cast(b, a.dtype()));
  dispatch(a.dtype(), [&]<class T>() {
    const T* pa = a.data<T>();
    const T* pb = bb.data<T>();
    T* po = out.data<T>();
    for (std::int64_t i = 0, n = a.numel(); i < n; ++i) po[i] = f(pa[i], pb[i]);
  });
  return out;
}

// The dtype of a binary op's result (see ops.hpp).
inline Dtype promote(const Tensor& a, const Tensor& b) {
  if (a.dtype() == b.dtype()) return a.dtype();
  if (a.dim() == 0 && b.dim() > 0) return b.dtype();
  if (b.dim() == 0 && a.dim() > 0) return a.dtype();
  return kFloat64;
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

// out = f(a, b) elementwise with broadcasting, f a scalar function. Same-shape and
// scalar operands take straight loops the compiler vectorises.
template <class F>
Tensor broadcast_binary(const char* op, const Tensor& a_in, const Tensor& b_in, F f) {
  check_defined(op, a_in, "the first operand");
  check_defined(op, b_in, "the second operand");
  Dtype dtype = promote(a_in, b_in);
  Tensor a_converted, b_converted;  // used only if an operand's dtype differs
  const Tensor& a = a_in.dtype() == dtype ? a_in : (a_converted = cast(a_in, dtype));
  const Tensor& b = b_in.dtype() == dtype ? b_in : (b_converted = cast(b_in, dtype));
  Shape shape = a.shape() == b.shape() ? a.shape() : broadcast_shapes(op, a.shape(), b.shape());
  Tensor out = empty(shape, {.dtype = dtype});
  dispatch(dtype, [&]<class T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    std::int64_t n = out.numel();
    if (a.shape() == b.shape()) {
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    } else if (b.numel() == 1 && a.shape() == shape) {
      const T s = pb[0];
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(pa[i], s);
    } else if (a.numel() == 1 && b.shape() == shape) {
      const T s = pa[0];
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(s, pb[i]);
    } else {
      for_each_row(
          shape, broadcast_strides(a.shape(), shape), broadcast_strides(b.shape(), shape),
          [&](std::int64_t o, std::int64_t ia, std::int64_t ib, std::int64_t len, std::int64_t sa, std::int64_t sb) {
            for (std::int64_t j = 0; j < len; ++j) po[o + j] = f(pa[ia + j * sa], pb[ib + j * sb]);
          });
    }
  });
  return out;
}

}  // namespace tg::kernels
