// SPDX-License-Identifier: MIT
#include "tapegrad/layers/attention.hpp"

#include <fmt/format.h>

#include "tapegrad/error.hpp"
#include "tapegrad/init.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

MultiheadAttention::MultiheadAttention(std::int64_t embed_dim_, std::int64_t num_heads_,
                                       const MultiheadAttentionOptions& options_, Generator& gen)
    : embed_dim(embed_dim_), num_heads(num_heads_), options(options_) {
  if (embed_dim <= 0 || num_heads <= 0 || embed_dim % num_heads != 0)
    fail<ValueError>(
        "MultiheadAttention: embed_dim {} must be a positive multiple of num_heads {} (each head gets embed_dim / "
        "num_heads features)",
        embed_dim, num_heads);
  Tensor w = empty({3 * embed_dim, embed_dim});
  xavier_uniform_(w, gen);
  in_proj_weight = register_parameter("in_proj_weight", w);
  if (options.bias) in_proj_bias = register_parameter("in_proj_bias", zeros({3 * embed_dim}));
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, options.bias, gen));
  if (options.bias) zeros_(out_proj->bias);
}

std::string MultiheadAttention::extra_repr() const {
  // PyTorch prints only the out_proj child; tapegrad adds the sizes, which are worth seeing.
  return fmt::format("embed_dim={}, num_heads={}{}", embed_dim, num_heads,
                     options.batch_first ? ", batch_first=True" : "");
}

Tensor MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const MultiheadAttentionMasks& masks) const {
  constexpr const char* kLayer = "MultiheadAttention";
  for (const Tensor* t : {&query, &key, &value})
    if (!t->defined() || (t->dim() != 2 && t->dim() != 3) || t->size(-1) != embed_dim)
      fail<ShapeError>("{}: query, key and value must be [L, N, {}] ([N, L, {}] with batch_first) or [L, {}], got {}",
                       kLayer, embed_dim, embed_dim, embed_dim,
                       t->defined() ? t->shape().str() : std::string("an undefined tensor"));
  if (key.dim() != query.dim() || value.dim() != query.dim() || !(key.shape() == value.shape()))
    fail<ShapeError>("{}: query {}, key {} and value {} must have the same rank, and key and value one shape", kLayer,
                     query.shape(), key.shape(), value.shape());
  const bool unbatched = query.dim() == 2;
  // -> [N, L, E]
  auto batch_major = [&](const Tensor& t) {
    return unbatched ? unsqueeze(t, 0) : options.batch_first ? t : t.transpose(0, 1);
  };
  Tensor q = batch_major(query), k = batch_major(key), v = batch_major(value);
  const std::int64_t N = q.size(0), L = q.size(1), S = k.size(1), E = embed_dim, H = num_heads, D = E / H;
  if (k.size(0) != N)
    fail<ShapeError>("{}: query {} and key {} hold different batch sizes", kLayer, query.shape(), key.shape());
  // The three projections: slices of in_proj (one matmul each, as PyTorch does for distinct inputs).
  auto project = [&](const Tensor& x, std::int64_t part) {
    Tensor w = in_proj_weight.index({Slice(part * E, (part + 1) * E)});
    Tensor y = matmul(x, w.t());
    if (in_proj_bias.defined()) y = y + in_proj_bias.index({Slice(part * E, (part + 1) * E)});
    return y.reshape({N, -1, H, D}).transpose(1, 2);  // [N, H, len, D]
  };
  Tensor qh = project(q, 0), kh = project(k, 1), vh = project(v, 2);

  // One mask for scaled_dot_product_attention: bool "may attend", or float added to the scores.
  Tensor mask;
  if (masks.attn_mask.defined()) {
    if (masks.is_causal) fail<ValueError>("{}: give either attn_mask or is_causal = true, not both", kLayer);
    const Tensor& m = masks.attn_mask;
    const bool per_head = m.dim() == 3;
    if (!((m.dim() == 2 && m.shape() == Shape{L, S}) || (per_head && m.shape() == Shape{N * H, L, S})))
      fail<ShapeError>("{}: attn_mask {} must be [L, S] = [{}, {}] or [N heads, L, S] = [{}, {}, {}]", kLayer,
                       m.shape(), L, S, N * H, L, S);
    Tensor shaped = per_head ? m.reshape({N, H, L, S}) : m;
    mask = m.dtype() == kBool ? eq(shaped.to(kInt64), 0) : shaped;
  }
  if (masks.key_padding_mask.defined()) {
    const Tensor& p = masks.key_padding_mask;
    const Shape want = unbatched ? Shape{S} : Shape{N, S};
    if (!(p.shape() == want) || p.dtype() != kBool)
      fail<ShapeError>("{}: key_padding_mask must be a bool tensor {} (true: ignore that key), got {} {}", kLayer, want,
                       dtype_name(p.dtype()), p.shape());
    Tensor keep = eq(p.to(kInt64), 0).reshape({N, 1, 1, S});  // true: attend
    if (!mask.defined())
      mask = keep;
    else if (mask.dtype() == kBool)
      mask = mul(mask.to(kInt64), keep.to(kInt64)).to(kBool);
    else
      mask = where(keep, mask, -INFINITY);  // broadcast together: [N, 1, L, S]
  }
  if (masks.is_causal && mask.defined()) {  // causal and key padding together: fold the causal part in
    Tensor causal = tril(ones({L, S})).to(kBool);
    mask = mask.dtype() == kBool ? mul(mask.to(kInt64), causal.to(kInt64)).to(kBool) : where(causal, mask, -INFINITY);
  }
  Tensor attended = scaled_dot_product_attention(
      qh, kh, vh, {.mask = mask, .is_causal = masks.is_causal && !mask.defined(), .scale = std::nullopt});
  Tensor joined = attended.transpose(1, 2).reshape({N, L, E});  // heads side by side again
  Tensor out = (*out_proj)(joined);
  return unbatched ? squeeze(out, 0) : options.batch_first ? out : out.transpose(0, 1);
}

}  // namespace tg
