// SPDX-License-Identifier: MIT
#pragma once
// Scaled dot-product attention, as F.scaled_dot_product_attention, in one op.
#include <optional>

#include "tapegrad/tensor.hpp"

namespace tg {

struct AttentionOptions {
  // PyTorch's attn_mask, broadcast to [..., T, S]: bool (true: the query may attend to the
  // key) or floating (added to the scores, e.g. -inf to forbid; a learned bias gets its gradient).
  Tensor mask = {};
  bool is_causal = false;            // query i attends to keys j <= i only (not together with mask)
  std::optional<double> scale = {};  // of the scores; 1 / sqrt(d) when not given
};

// softmax(q k^T * scale + mask) v over q [..., T, d], k [..., S, d], v [..., S, dv] (the same
// leading dims, e.g. [B, heads]), giving [..., T, dv]. A query whose keys are all masked out
// gets a row of zeros, not NaN (PyTorch's math gives NaN there), and no gradient.
// The backward reuses the softmax the forward saved: with P that softmax and dO the
// incoming gradient,
//   dv = P^T dO,  dP = dO v^T,  dS = P * (dP - rowsum(dP * P)),  dq = scale dS k,  dk = scale dS^T q.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& options = {});

}  // namespace tg
