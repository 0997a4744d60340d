// SPDX-License-Identifier: MIT
#pragma once
// MultiheadAttention(embed_dim, num_heads), as nn.MultiheadAttention (dropout 0), over the
// fused scaled_dot_product_attention op. PyTorch's parameters, so that its state_dict loads:
//   in_proj_weight [3 E, E] (xavier_uniform_), in_proj_bias [3 E] (zeros),
//   out_proj.weight [E, E], out_proj.bias [E] (zeros)
// forward(query, key, value, {masks}) projects query, key and value with the three slices of
// in_proj, splits E into num_heads heads of E / num_heads, attends per head, joins the heads
// and applies out_proj. Shapes are [L, N, E] ([N, L, E] with batch_first), or [L, E] unbatched.
// The masks follow nn.MultiheadAttention, where true means "do not attend" (the opposite of
// scaled_dot_product_attention's bool mask): key_padding_mask [N, S] marks padding keys,
// attn_mask [L, S] (or [N heads, L, S]) forbids pairs, or is added to the scores when floating.
#include <cstdint>
#include <memory>

#include "tapegrad/generator.hpp"
#include "tapegrad/layers/linear.hpp"
#include "tapegrad/layers/module.hpp"

namespace tg {

struct MultiheadAttentionOptions {
  bool bias = true;
  bool batch_first = false;
};

struct MultiheadAttentionMasks {
  Tensor key_padding_mask = {};  // bool [N, S] ([S] unbatched): true for a key to ignore
  Tensor attn_mask = {};         // bool (true: forbidden) or float (added), [L, S] or [N heads, L, S]
  bool is_causal = false;        // query i attends to keys j <= i (not together with attn_mask)
  template <class F>
  void for_each_tensor(F&& f) {
    f(key_padding_mask);
    f(attn_mask);
  }
};

class MultiheadAttention : public Module {
 public:
  MultiheadAttention(std::int64_t embed_dim, std::int64_t num_heads, const MultiheadAttentionOptions& options = {},
                     Generator& gen = default_generator());

  Tensor forward(const Tensor& query, const Tensor& key, const Tensor& value,
                 const MultiheadAttentionMasks& masks = {}) const;
  Tensor forward(const Tensor& x) override { return forward(x, x, x); }  // self-attention
  // mha(query, key, value, {.is_causal = true}) runs forward through hooks and this module's
  // scope; hooks see [query, key, value, key_padding_mask, attn_mask]. mha(x) is self-attention.
  Tensor operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                    const MultiheadAttentionMasks& masks = {}) {
    return call(*this, query, key, value, masks);
  }
  using Module::operator();
  std::string extra_repr() const override;

  std::int64_t embed_dim, num_heads;
  MultiheadAttentionOptions options;
  Tensor in_proj_weight;  // [3 E, E]: the query, key and value projections, stacked
  Tensor in_proj_bias;    // [3 E] (undefined without bias)
  std::shared_ptr<Linear> out_proj;
};

}  // namespace tg
