// SPDX-License-Identifier: MIT
#pragma once
// The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/), gzip-compressed:
//   bytes 0-1  zero
//   byte  2    element type: 0x08 = unsigned byte (the only one these datasets use)
//   byte  3    number of dimensions
//   then one big-endian uint32 per dimension, then the elements in row-major order.
// Images files have magic 0x00000803 (N, rows, cols); label files 0x00000801 (N).
#include <cstdint>
#include <string>
#include <vector>

namespace tg {

// Images stay as bytes (60000 Fashion-MNIST images are 47 MB as bytes, 188 MB as float32);
// batches convert them to float.
struct IdxImages {
  std::int64_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // [count, rows, cols], row-major
};

// Read a gzip-compressed IDX file. A missing file, a file that is not gzip, a truncated or
// corrupt gzip stream, a wrong magic number, element type or rank, and data shorter or
// longer than the dimensions say are all IoErrors naming the file and the problem.
IdxImages read_idx_images(const std::string& path);
std::vector<std::uint8_t> read_idx_labels(const std::string& path);

}  // namespace tg
