// SPDX-License-Identifier: MIT
#include "tapegrad/data/tensor_dataset.hpp"

#include <string>
#include <utility>

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

namespace {

std::string shapes_of(const std::vector<Tensor>& tensors) {
  std::string out;
  for (const Tensor& t : tensors) out += (out.empty() ? "" : ", ") + t.shape().str();
  return out;
}

}  // namespace

TensorDataset::TensorDataset(std::vector<Tensor> tensors) : tensors_(std::move(tensors)) {
  if (tensors_.empty())
    fail<ValueError>("TensorDataset: no tensors were given; pass at least one, e.g. TensorDataset(x, y)");
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    if (!tensors_[i].defined())
      fail<ValueError>("TensorDataset: tensor {} is undefined; pass tensors that hold values", i);
    if (tensors_[i].dim() == 0)
      fail<ShapeError>(
          "TensorDataset: tensor {} is 0-d (shapes {}); every tensor needs a first dim that runs over the samples, "
          "e.g. reshape({{1}})",
          i, shapes_of(tensors_));
  }
  size_ = tensors_[0].size(0);
  for (const Tensor& t : tensors_)
    if (t.size(0) != size_)
      fail<ShapeError>(
          "TensorDataset: the tensors' first dims differ (shapes {}); every tensor needs one row per sample, the "
          "same number in each",
          shapes_of(tensors_));
}

Batch TensorDataset::get(std::span<const std::int64_t> indices) const {
  for (std::int64_t i : indices)
    if (i < 0 || i >= size_)
      fail<ValueError>("TensorDataset::get: index {} is not inside [0, {}); use indices below {}", i, size_, size_);
  Tensor index = from_vector(indices, {static_cast<std::int64_t>(indices.size())});
  std::vector<Tensor> rows;
  rows.reserve(tensors_.size());
  for (const Tensor& t : tensors_) rows.push_back(index_select(t, 0, index));
  return Batch(std::move(rows));
}

}  // namespace tg
