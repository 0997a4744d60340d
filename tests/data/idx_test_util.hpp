// SPDX-License-Identifier: MIT
#pragma once
// Helpers for the data tests (TempDir is in test_util.hpp): IDX byte strings, and gzip files
// written with zlib, as Fashion-MNIST's own files are.
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "test_util.hpp"

namespace tg::test {

// An IDX header: magic 00 00 <type> <rank>, then each dimension as a big-endian uint32.
inline std::string idx_header(std::vector<std::uint32_t> dims, unsigned char type = 0x08) {
  std::string out{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((d >> shift) & 0xff);
  return out;
}

// Pixel p of image i: a pattern that differs between images and positions.
inline std::uint8_t test_pixel(std::int64_t i, std::int64_t p) { return static_cast<std::uint8_t>((i * 37 + p) % 256); }

// A complete IDX images file of n images of rows x cols holding test_pixel values.
inline std::string idx_images(std::uint32_t n, std::uint32_t rows, std::uint32_t cols) {
  std::string out = idx_header({n, rows, cols});
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t p = 0; p < std::int64_t{rows} * cols; ++p) out += static_cast<char>(test_pixel(i, p));
  return out;
}

inline std::string idx_labels(const std::vector<std::uint8_t>& labels) {
  std::string out = idx_header({static_cast<std::uint32_t>(labels.size())});
  out.append(labels.begin(), labels.end());
  return out;
}

inline void write_plain(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

inline void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  if (f == nullptr) throw std::runtime_error("write_gzip: cannot create " + path);
  if (!bytes.empty()) gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

inline std::string read_plain(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Labels 0, 1, ..., 9, 0, 1, ... for n samples.
inline std::vector<std::uint8_t> cyclic_labels(std::int64_t n) {
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i % 10);
  return labels;
}

// A Fashion-MNIST directory with n_train and n_test 28 x 28 images (test_pixel values,
// cyclic labels) in the files Debian's dataset-fashion-mnist installs.
inline void write_fashion_mnist(const TempDir& dir, std::uint32_t n_train, std::uint32_t n_test) {
  write_gzip(dir.file("train-images-idx3-ubyte.gz"), idx_images(n_train, 28, 28));
  write_gzip(dir.file("train-labels-idx1-ubyte.gz"), idx_labels(cyclic_labels(n_train)));
  write_gzip(dir.file("t10k-images-idx3-ubyte.gz"), idx_images(n_test, 28, 28));
  write_gzip(dir.file("t10k-labels-idx1-ubyte.gz"), idx_labels(cyclic_labels(n_test)));
}

}  // namespace tg::test
