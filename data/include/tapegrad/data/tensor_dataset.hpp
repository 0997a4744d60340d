// SPDX-License-Identifier: MIT
#pragma once
// TensorDataset: samples that are rows of tensors already in memory, as
// torch.utils.data.TensorDataset. Sample i is (t[0][i], t[1][i], ...); every tensor needs
// the same first dim (the number of samples) and may have any dtype and trailing shape.
//   tg::TensorDataset data(x, y);            // x [N, 4] float32, y [N] int64
//   tg::DataLoader loader(data, 32, /*shuffle=*/true);
//   for (const tg::Batch& batch : loader) {
//     auto [xb, yb] = batch.unpack<2>();     // or batch[0], batch[1]: [<= 32, 4] and [<= 32]
//   }
// The dataset holds the tensors themselves (handles, not copies), as PyTorch's does; a batch
// is a copy of the selected rows (index_select along dim 0).
#include <concepts>
#include <cstdint>
#include <span>
#include <vector>

#include "tapegrad/data/dataset.hpp"

namespace tg {

class TensorDataset : public Dataset {
 public:
  // Throws ValueError for no tensors or an undefined one, ShapeError for a 0-d tensor or
  // first dims that differ.
  explicit TensorDataset(std::vector<Tensor> tensors);
  // The tensors as separate arguments: TensorDataset(x, y).
  template <std::same_as<Tensor>... T>
  explicit TensorDataset(const Tensor& first, const T&... rest) : TensorDataset(std::vector<Tensor>{first, rest...}) {}

  std::int64_t size() const override { return size_; }
  // One tensor per tensor of the dataset: its rows at `indices`, in that order.
  Batch get(std::span<const std::int64_t> indices) const override;

  const std::vector<Tensor>& tensors() const { return tensors_; }

 private:
  std::vector<Tensor> tensors_;
  std::int64_t size_ = 0;
};

}  // namespace tg
