// SPDX-License-Identifier: MIT
#pragma once
// Gradient clipping, as torch.nn.utils: scale or clamp the .grad() of parameters in place,
// after backward() and before the optimizer's step().
//   tg::clip_grad_norm_(model.parameters(), 1.0);
#include <limits>
#include <span>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

// Scales every gradient by max_norm / total_norm when the norm of all gradients together (as
// one vector; norm_type 2, 1, or infinity for the largest magnitude) exceeds max_norm, and
// returns that total norm, a 0-d float32 tensor. Parameters without a gradient are skipped.
// With error_if_nonfinite, a NaN or infinite norm is a ValueError and no gradient changes;
// without it, the gradients are scaled by NaN, as PyTorch does.
Tensor clip_grad_norm_(std::span<const Tensor> parameters, double max_norm, double norm_type = 2,
                       bool error_if_nonfinite = false);
inline Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2,
                              bool error_if_nonfinite = false) {
  return clip_grad_norm_(std::span<const Tensor>(parameters), max_norm, norm_type, error_if_nonfinite);
}

// Clamps every gradient element into [-clip_value, clip_value].
void clip_grad_value_(std::span<const Tensor> parameters, double clip_value);
inline void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  clip_grad_value_(std::span<const Tensor>(parameters), clip_value);
}

}  // namespace tg
