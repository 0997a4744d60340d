// SPDX-License-Identifier: MIT
#include "tapegrad/layers/dropout.hpp"

#include <fmt/format.h>

#include "tapegrad/error.hpp"
#include "tapegrad/ops/normalization.hpp"

namespace tg {

Dropout::Dropout(double p, Generator& gen) : p_(p), gen_(&gen) {
  if (!(p >= 0 && p <= 1))
    fail<ValueError>("Dropout: probability p must lie in [0, 1], got {}; p is the fraction of elements zeroed", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, is_training(), *gen_); }

std::string Dropout::extra_repr() const { return fmt::format("p={}, inplace=False", p_); }

}  // namespace tg
