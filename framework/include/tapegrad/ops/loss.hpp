// SPDX-License-Identifier: MIT
#pragma once
// softmax, log_softmax and the losses a classifier or a regression trains on.
#include <cstdint>
#include <span>
#include <string_view>

#include "tapegrad/tensor.hpp"

namespace tg {

// y = e^x / sum_k e^x_k along `dim` (negative counts from the end); each slice sums to 1.
Tensor softmax(const Tensor& x, int dim);

// y = x - log sum_k e^x_k along `dim`, computed as (x - m) - log sum_k e^(x_k - m) with
// m the slice's max, so that logits of any magnitude give finite results.
Tensor log_softmax(const Tensor& x, int dim);

// Options of cross_entropy, as F.cross_entropy's keyword arguments.
struct CrossEntropyOptions {
  std::int64_t ignore_index = -100;  // targets equal to it add nothing and are not counted by "mean"
  double label_smoothing = 0;        // eps in [0, 1]: the target puts 1 - eps + eps / C on the class, eps / C elsewhere
  std::string_view reduction = "mean";  // "mean", "sum" or "none" (the per-example losses)
};

// -log_softmax(logits)[n, targets[n]] per example, averaged over the examples, as
// F.cross_entropy. logits are unnormalised scores [N, C], [N, C, d1, ...] (classes along
// dim 1, e.g. [B, vocab, T] for a sequence) or [C] (one example); targets are int64 class
// indices in [0, C) of the logits' shape without the class dim ([N], [N, d1, ...] or 0-d), and
// get no gradient. "mean" divides by the number of targets not equal to ignore_index (NaN if
// all are ignored, as PyTorch). Float targets shaped like the logits are class probabilities
// (soft labels): the loss is -sum_k targets[n, k] log_softmax(logits)[n, k], and "mean"
// divides by N * d1 * ....
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options = {});
Tensor cross_entropy(const Tensor& logits, std::span<const std::int64_t> targets,
                     const CrossEntropyOptions& options = {});

struct NllLossOptions {
  std::int64_t ignore_index = -100;
  std::string_view reduction = "mean";  // "mean", "sum" or "none"
};

// -log_probs[n, targets[n]] per example, reduced, as F.nll_loss: log_probs are log-probabilities
// (log_softmax's output) of the shapes cross_entropy takes. cross_entropy(x, t) equals
// nll_loss(log_softmax(x, 1), t), in one op.
Tensor nll_loss(const Tensor& log_probs, const Tensor& targets, const NllLossOptions& options = {});

struct BceWithLogitsOptions {
  Tensor weight = {};                   // per-element weight, broadcast to the logits (undefined: 1)
  Tensor pos_weight = {};               // weight of the positive term per class, along the last dim (undefined: 1)
  std::string_view reduction = "mean";  // "mean", "sum" or "none"
};

// Binary cross-entropy on logits, as F.binary_cross_entropy_with_logits:
//   -w [p y ln sigmoid(x) + (1 - y) ln(1 - sigmoid(x))]
// per element, computed without overflow for any logit; targets y (0/1 labels or
// probabilities) have the logits' shape and get a gradient too. weight and pos_weight get none.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets,
                                        const BceWithLogitsOptions& options = {});

// The mean of (input - target)^2 over all elements, as F.mse_loss.
// Note: the shapes must match exactly; PyTorch would broadcast them (with a warning), which
// silently turns a [N] vs [N, 1] mix-up into an [N, N] loss.
Tensor mse_loss(const Tensor& input, const Tensor& target);

}  // namespace tg
