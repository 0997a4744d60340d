// SPDX-License-Identifier: MIT
#include "tapegrad/dtype.hpp"

#include "tapegrad/error.hpp"

namespace tg {

std::string DtypeSet::str() const {
  std::string out;
  for (Dtype d : {kFloat32, kFloat64, kInt64, kBool})
    if (contains(d)) out += (out.empty() ? "" : ", ") + std::string(dtype_name(d));
  return out;
}

namespace detail {

void fail_dtype(const char* op, Dtype d, DtypeSet accepted) {
  fail<DtypeError>("{}: got a {} tensor, but this kernel works on {} only; convert it with .to(tg::kFloat32)", op,
                   dtype_name(d), accepted.str());
}

}  // namespace detail

}  // namespace tg
