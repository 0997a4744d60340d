// SPDX-License-Identifier: MIT
#include "tapegrad/data/fashion_mnist.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <numeric>

#include "tapegrad/data/idx.hpp"
#include "tapegrad/error.hpp"

namespace tg {

namespace {

constexpr std::int64_t kImageBytes = FashionMNIST::kRows * FashionMNIST::kCols;

}  // namespace

std::string FashionMNIST::default_root() {
  const char* env = std::getenv("TAPEGRAD_FASHION_MNIST");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(kDebianRoot);
}

FashionMNIST::FashionMNIST(std::string root, bool train)
    : root_(root.empty() ? default_root() : std::move(root)), train_(train) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(root_))
    fail<IoError>(
        "FashionMNIST: the directory {} does not exist; install Debian's dataset-fashion-mnist (apt-get install "
        "dataset-fashion-mnist) or pass the directory that holds the .gz files (or set TAPEGRAD_FASHION_MNIST)",
        root_);
  std::string prefix = train ? "train" : "t10k";
  std::string image_path = (fs::path(root_) / (prefix + "-images-idx3-ubyte.gz")).string();
  std::string label_path = (fs::path(root_) / (prefix + "-labels-idx1-ubyte.gz")).string();

  IdxImages images = read_idx_images(image_path);
  if (images.rows != kRows || images.cols != kCols)
    fail<IoError>("FashionMNIST: {} holds {} x {} images, but Fashion-MNIST images are {} x {}", image_path,
                  images.rows, images.cols, kRows, kCols);
  labels_ = read_idx_labels(label_path);
  if (static_cast<std::int64_t>(labels_.size()) != images.count)
    fail<IoError>("FashionMNIST: {} holds {} images but {} holds {} labels; both files must come from the same set",
                  image_path, images.count, label_path, labels_.size());
  for (std::size_t i = 0; i < labels_.size(); ++i)
    if (labels_[i] >= kClasses)
      fail<IoError>("FashionMNIST: {}: label {} at index {} is not a class index in [0, {})", label_path, labels_[i], i,
                    kClasses);
  pixels_ = std::move(images.pixels);
}

Tensor FashionMNIST::images(std::int64_t begin, std::int64_t end) const {
  if (begin < 0 || begin > end || end > size())
    fail<ValueError>("FashionMNIST::images: the range [{}, {}) is not inside [0, {}); use 0 <= begin <= end <= {}",
                     begin, end, size(), size());
  std::vector<std::int64_t> indices(static_cast<std::size_t>(end - begin));
  std::iota(indices.begin(), indices.end(), begin);
  return get(indices).images();
}

Tensor FashionMNIST::labels(std::int64_t begin, std::int64_t end) const {
  if (begin < 0 || begin > end || end > size())
    fail<ValueError>("FashionMNIST::labels: the range [{}, {}) is not inside [0, {}); use 0 <= begin <= end <= {}",
                     begin, end, size(), size());
  Tensor out = empty({end - begin}, {.dtype = kInt64});
  std::int64_t* y = out.data<std::int64_t>();
  for (std::int64_t i = begin; i < end; ++i) y[i - begin] = labels_[static_cast<std::size_t>(i)];
  return out;
}

Batch FashionMNIST::get(std::span<const std::int64_t> indices) const {
  auto n = static_cast<std::int64_t>(indices.size());
  Batch batch{empty({n, 1, kRows, kCols}), empty({n}, {.dtype = kInt64})};
  float* x = batch.images().data<float>();                // [n, 1, 28, 28]
  std::int64_t* y = batch.labels().data<std::int64_t>();  // [n]
  for (std::int64_t k = 0; k < n; ++k) {
    std::int64_t i = indices[static_cast<std::size_t>(k)];
    if (i < 0 || i >= size())
      fail<ValueError>("FashionMNIST::get: index {} is not inside [0, {}); use indices below {}", i, size(), size());
    const std::uint8_t* pixels = pixels_.data() + i * kImageBytes;
    // Note: a division, not a multiplication by 1/255, so values match ToTensor's bit for bit.
    for (std::int64_t p = 0; p < kImageBytes; ++p) x[k * kImageBytes + p] = static_cast<float>(pixels[p]) / 255.0f;
    y[k] = labels_[static_cast<std::size_t>(i)];
  }
  return batch;
}

FashionMNIST FashionMNIST::subset(std::int64_t n) const {
  if (n < 0)
    fail<ValueError>("FashionMNIST::subset: the number of samples must be non-negative, got {}; pass 0 or more", n);
  auto keep = static_cast<std::size_t>(std::min(n, size()));
  return {root_, train_, std::vector<std::uint8_t>(pixels_.begin(), pixels_.begin() + keep * kImageBytes),
          std::vector<std::uint8_t>(labels_.begin(), labels_.begin() + keep)};
}

}  // namespace tg
