// SPDX-License-Identifier: MIT
#pragma once
// Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): 28 x 28 grey images of 10 kinds of clothing,
// 60000 for training and 10000 for testing, read from the gzip IDX files that Debian's
// dataset-fashion-mnist installs in /usr/share/datasets/fashion-mnist.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tapegrad/data/dataset.hpp"

namespace tg {

class FashionMNIST : public Dataset {
 public:
  static constexpr std::int64_t kRows = 28, kCols = 28, kClasses = 10;
  static constexpr std::array<std::string_view, kClasses> kClassNames = {
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

  // Loads train-{images-idx3,labels-idx1}-ubyte.gz (train) or t10k-... (test) from `root`.
  // An empty root means $TAPEGRAD_FASHION_MNIST if set, else default_root().
  explicit FashionMNIST(std::string root = "", bool train = true);

  // Where Debian's dataset-fashion-mnist puts the files.
  static constexpr std::string_view kDebianRoot = "/usr/share/datasets/fashion-mnist";
  // $TAPEGRAD_FASHION_MNIST if set and not empty, else kDebianRoot.
  static std::string default_root();

  std::int64_t size() const override { return static_cast<std::int64_t>(labels_.size()); }
  const std::string& root() const { return root_; }
  bool train() const { return train_; }
  // The raw data: pixels [size, 28, 28] in 0..255, labels [size] in 0..9.
  const std::vector<std::uint8_t>& image_bytes() const { return pixels_; }
  const std::vector<std::uint8_t>& label_bytes() const { return labels_; }

  // Samples [begin, end) as float32: images [n, 1, 28, 28] scaled to [0, 1] (x / 255, as
  // torchvision's ToTensor) and labels [n] holding the class indices.
  Tensor images(std::int64_t begin, std::int64_t end) const;
  Tensor labels(std::int64_t begin, std::int64_t end) const;
  Batch get(std::span<const std::int64_t> indices) const override;
  // A copy of the first min(n, size()) samples, for quick runs.
  FashionMNIST subset(std::int64_t n) const;

 private:
  FashionMNIST(std::string root, bool train, std::vector<std::uint8_t> pixels, std::vector<std::uint8_t> labels)
      : root_(std::move(root)), train_(train), pixels_(std::move(pixels)), labels_(std::move(labels)) {}

  std::string root_;
  bool train_;
  std::vector<std::uint8_t> pixels_;
  std::vector<std::uint8_t> labels_;
};

}  // namespace tg
