// SPDX-License-Identifier: MIT
#include "tapegrad/layers/embedding.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

Embedding::Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim, std::optional<std::int64_t> padding,
                     Generator& gen) {
  if (num_embeddings <= 0 || embedding_dim <= 0)
    fail<ValueError>(
        "Embedding: num_embeddings and embedding_dim must be positive, got {} and {}; pass the vocabulary size and "
        "the width of a row",
        num_embeddings, embedding_dim);
  if (padding) {
    if (*padding < -num_embeddings || *padding >= num_embeddings)
      fail<ValueError>("Embedding: padding_idx {} is out of range for {} embeddings; use an index in [{}, {})",
                       *padding, num_embeddings, -num_embeddings, num_embeddings);
    padding_idx = *padding < 0 ? *padding + num_embeddings : *padding;
  }
  Tensor w = randn({num_embeddings, embedding_dim}, gen);
  if (padding_idx) {  // the padding row starts at zero (a fresh tensor: written directly)
    float* row = w.data<float>() + *padding_idx * embedding_dim;
    std::fill(row, row + embedding_dim, 0.0f);
  }
  weight = register_parameter("weight", w);
}

Tensor Embedding::forward(const Tensor& ids) { return embedding(weight, ids, padding_idx); }

std::string Embedding::extra_repr() const {
  std::string out = fmt::format("{}, {}", weight.size(0), weight.size(1));
  if (padding_idx) out += fmt::format(", padding_idx={}", *padding_idx);
  return out;
}

}  // namespace tg
