// SPDX-License-Identifier: MIT
#pragma once
// What a DataLoader needs from a dataset: its size and a batch of samples by index.
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <utility>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

// One mini-batch: tensors whose dim 0 runs over the batch's samples, in the order the
// dataset gives them, as the tuple a PyTorch DataLoader yields.
//   FashionMNIST: two tensors, images [n, C, H, W] and labels [n] (int64 class indices,
//                 ready for cross_entropy), also named batch.images() and batch.labels()
//   TensorDataset(x, y, w): three, batch[0], batch[1] and batch[2], with x's, y's and w's
//                 dtypes and trailing shapes
// `auto [x, y] = batch.unpack<2>();` unpacks a batch of known length.
class Batch {
 public:
  Batch() = default;
  Batch(std::initializer_list<Tensor> tensors) : tensors_(tensors) {}
  explicit Batch(std::vector<Tensor> tensors) : tensors_(std::move(tensors)) {}

  std::size_t size() const { return tensors_.size(); }
  // The i-th tensor; throws ValueError if i >= size().
  const Tensor& operator[](std::size_t i) const { return at(i, "Batch[]"); }
  Tensor& operator[](std::size_t i) { return const_cast<Tensor&>(at(i, "Batch[]")); }
  const std::vector<Tensor>& tensors() const { return tensors_; }
  auto begin() const { return tensors_.begin(); }
  auto end() const { return tensors_.end(); }

  // An image dataset's names for batch[0] and batch[1]; ValueError if the batch is shorter.
  const Tensor& images() const { return at(0, "Batch::images"); }
  const Tensor& labels() const { return at(1, "Batch::labels"); }

  // The tensors as an array, for structured bindings; throws ValueError unless size() == N.
  template <std::size_t N>
  std::array<Tensor, N> unpack() const {
    check_size(N);
    return [&]<std::size_t... I>(std::index_sequence<I...>) { return std::array<Tensor, N>{tensors_[I]...}; }
    (std::make_index_sequence<N>());
  }

 private:
  const Tensor& at(std::size_t i, const char* op) const;
  void check_size(std::size_t n) const;

  std::vector<Tensor> tensors_;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::int64_t size() const = 0;
  // The samples at `indices`, in that order; every index must be in [0, size()).
  virtual Batch get(std::span<const std::int64_t> indices) const = 0;
};

}  // namespace tg
