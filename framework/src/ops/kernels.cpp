// SPDX-License-Identifier: MIT
// The checks every op starts with, and PyTorch's rule for the dtype of a mixed result.
#include "ops/kernels.hpp"

namespace tg::kernels {

const Tensor& cast_into(const Tensor& t, Dtype d, Tensor& holder) {
  holder = t.detach().to(d);
  return holder;
}

void fail_dtype(const OpInfo& op, const Tensor& t, const char* what) {
  const char* fix = op.dtypes.contains(kFloat32) ? ".to(tg::kFloat32)"
                    : op.dtypes.contains(kInt64) ? ".to(tg::kInt64)"
                                                 : ".to(...)";
  fail<DtypeError>("{}: {} is {} {} tensor {}, but {} takes {}; convert it with {}", op.name, what,
                   t.dtype() == kInt64 ? "an" : "a", dtype_name(t.dtype()), t.shape(), op.name, op.dtypes.str(), fix);
}

namespace {

int category(Dtype d) { return d == kBool ? 0 : d == kInt64 ? 1 : 2; }

// c10's combine_categories: the result of the higher-priority operands, unless the lower ones
// are of a higher category (bool < integer < floating), which then lifts it.
Dtype combine(Dtype higher, Dtype lower) {
  if (category(higher) == 2) return higher;
  if (higher == kBool || category(lower) == 2) return promote_types(higher, lower);
  return higher;
}

}  // namespace

Dtype promoted_type(const Tensor& a, const Tensor& b) {
  const bool a_dim = a.dim() > 0, b_dim = b.dim() > 0;
  if (a_dim == b_dim) return promote_types(a.dtype(), b.dtype());
  return a_dim ? combine(a.dtype(), b.dtype()) : combine(b.dtype(), a.dtype());
}

Dtype result_type(const Tensor& a, Scalar b) { return combine(a.dtype(), b.dtype()); }

}  // namespace tg::kernels
