// SPDX-License-Identifier: MIT
#pragma once
// Embedding(num_embeddings, embedding_dim): a lookup table of learned rows, as nn.Embedding.
// forward(ids) takes int64 ids of any shape and returns ids.shape + [embedding_dim]. The
// weight [num_embeddings, embedding_dim] starts as N(0, 1), as PyTorch's; with padding_idx
// that row starts at zero and never gets a gradient (a padding token stays a zero vector).
#include <cstdint>
#include <optional>

#include "tapegrad/generator.hpp"
#include "tapegrad/layers/module.hpp"

namespace tg {

class Embedding : public Module {
 public:
  // padding_idx may be negative (counted from the end), as in PyTorch.
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim,
            std::optional<std::int64_t> padding_idx = std::nullopt, Generator& gen = default_generator());

  Tensor forward(const Tensor& ids) override;  // int64 ids [...] -> [..., embedding_dim]
  std::string extra_repr() const override;

  Tensor weight;                            // [num_embeddings, embedding_dim]
  std::optional<std::int64_t> padding_idx;  // in [0, num_embeddings) once constructed
};

}  // namespace tg
