#pragma once
// softmax, log_softmax and the losses a classifier or a regression trains on.
#include <cstdint>
#include <span>

#include "tapegrad/tensor.hpp"

namespace tg {

// y = e^x / sum_k e^x_k along `dim` (negative counts from the end); each slice sums to 1.
Tensor softmax(const Tensor& x, int dim);

// y = x - log sum_k e^x_k along `dim`, computed as (x - m) - log sum_k e^(x_k - m) with
// m the slice's max, so that logits of any magnitude give finite results.
Tensor log_softmax(const Tensor& x, int dim);

// The mean over the batch of -log_softmax(logits)[n, targets[n]], as F.cross_entropy:
// logits [N, K] (unnormalised scores), targets [N] int64 class indices in [0, K) (they get no
// gradient). Float targets shaped like the logits are class probabilities (soft labels):
// the mean over the batch of -sum_k targets[n, k] log_softmax(logits)[n, k].
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);
Tensor cross_entropy(const Tensor& logits, std::span<const std::int64_t> targets);

// The mean of (input - target)^2 over all elements, as F.mse_loss.
// Note: the shapes must match exactly; PyTorch would broadcast them (with a warning), which
// silently turns a [N] vs [N, 1] mix-up into an [N, N] loss.
Tensor mse_loss(const Tensor& input, const Tensor& target);

}  // namespace tg
