#pragma once
// What a DataLoader needs from a dataset: its size and a batch of samples by index.
#include <cstdint>
#include <span>

#include "tapegrad/tensor.hpp"

namespace tg {

// One mini-batch: images [n, C, H, W] and labels [n] (int64 class indices 0, 1, ..., as
// PyTorch's DataLoader gives them, ready for cross_entropy).
struct Batch {
  Tensor images;
  Tensor labels;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::int64_t size() const = 0;
  // The samples at `indices`, in that order; every index must be in [0, size()).
  virtual Batch get(std::span<const std::int64_t> indices) const = 0;
};

}  // namespace tg
