// SPDX-License-Identifier: MIT
#pragma once
// Normalisation and regularisation ops: batch_norm, layer_norm and dropout, as
// torch.nn.functional.batch_norm, layer_norm and dropout.
#include "tapegrad/generator.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

// Batch normalisation over the channel dim 1 of x [N, C, ...] (x [N, C] or [N, C, H, W]):
// statistics are taken per channel over every other dim, M = N * (product of the rest).
//   training: y = (x - mean) / sqrt(var + eps) * weight + bias, with the batch mean and
//             biased variance; running_mean and running_var (if defined) are updated in place:
//             running = (1 - momentum) * running + momentum * batch statistic, where the
//             statistic for running_var is the unbiased variance (times M / (M - 1)).
//   eval:     the same with running_mean and running_var in place of the batch statistics.
// weight and bias are [C], or both undefined for no affine transform. The running
// statistics are [C] and never require grad; they may be undefined in training only.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);

// Layer normalisation, as F.layer_norm: x [..., d1, ..., dk] is normalised over its last k dims,
// normalized_shape = [d1, ..., dk] (e.g. {128} for x [B, T, 128]), with the biased variance:
//   y = (x - mean) / sqrt(var + eps) * weight + bias
// weight and bias have shape normalized_shape; either may be undefined (no scale, no shift).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

// Inverted dropout: in training, each element is zeroed with probability p and the kept
// ones are scaled by 1 / (1 - p), so the expected value is unchanged. In eval mode, or
// with p = 0, x is returned as it is; p = 1 gives zeros. p must lie in [0, 1].
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);

}  // namespace tg
