// SPDX-License-Identifier: MIT
// Comparisons: lt le gt ge eq ne, elementwise with broadcasting and PyTorch's promotion, giving
// bool tensors. Their results have no gradient, so nothing is recorded.
#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

namespace {

template <class F>
Tensor compare(const char* op, const Tensor& a, const Tensor& b, F f) {
  kernels::check_defined(op, a, "the first operand");
  kernels::check_defined(op, b, "the second operand");
  return kernels::broadcast_binary<true>(op, a, b, kernels::result_type(a, b), f);
}

template <class F>
Tensor compare(const char* op, const Tensor& a, Scalar b, F f) {
  kernels::check_defined(op, a, "the tensor operand");
  Dtype compute = kernels::result_type(a, b);
  return compare(op, kernels::cast(a, compute), scalar(b, {.dtype = compute}), f);
}

}  // namespace

Tensor lt(const Tensor& a, const Tensor& b) {
  return compare("lt", a, b, [](auto u, auto v) { return u < v; });
}
Tensor le(const Tensor& a, const Tensor& b) {
  return compare("le", a, b, [](auto u, auto v) { return u <= v; });
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return compare("gt", a, b, [](auto u, auto v) { return u > v; });
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return compare("ge", a, b, [](auto u, auto v) { return u >= v; });
}
Tensor eq(const Tensor& a, const Tensor& b) {
  return compare("eq", a, b, [](auto u, auto v) { return u == v; });
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return compare("ne", a, b, [](auto u, auto v) { return u != v; });
}
Tensor lt(const Tensor& a, Scalar b) {
  return compare("lt", a, b, [](auto u, auto v) { return u < v; });
}
Tensor le(const Tensor& a, Scalar b) {
  return compare("le", a, b, [](auto u, auto v) { return u <= v; });
}
Tensor gt(const Tensor& a, Scalar b) {
  return compare("gt", a, b, [](auto u, auto v) { return u > v; });
}
Tensor ge(const Tensor& a, Scalar b) {
  return compare("ge", a, b, [](auto u, auto v) { return u >= v; });
}
Tensor eq(const Tensor& a, Scalar b) {
  return compare("eq", a, b, [](auto u, auto v) { return u == v; });
}
Tensor ne(const Tensor& a, Scalar b) {
  return compare("ne", a, b, [](auto u, auto v) { return u != v; });
}

Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, Scalar b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, Scalar b) { return le(a, b); }
Tensor operator>(const Tensor& a, Scalar b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, Scalar b) { return ge(a, b); }
Tensor operator==(const Tensor& a, Scalar b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, Scalar b) { return ne(a, b); }

}  // namespace tg
