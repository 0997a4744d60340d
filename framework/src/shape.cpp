// SPDX-License-Identifier: MIT
#include "tapegrad/shape.hpp"

#include <algorithm>
#include <limits>

#include "tapegrad/error.hpp"

namespace tg {

Shape::Shape(std::initializer_list<std::int64_t> dims)
    : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
  for (std::int64_t d : dims) push_back(d);
}

void Shape::push_back(std::int64_t d) {
  if (rank_ == kMaxRank)
    fail<ShapeError>(
        "Shape: more than {} dimensions are not supported (got one more after {}); merge dims with reshape", kMaxRank,
        str());
  if (d < 0) fail<ShapeError>("Shape: dimension {} has negative size {}; sizes must be >= 0", rank_, d);
  dims_[static_cast<std::size_t>(rank_++)] = d;
}

// Note: a ShapeError, as PyTorch's RuntimeError for torch.zeros(2**40, 2**40) is about the
// shape ("numel: integer multiplication overflow"), not about a value.
std::int64_t Shape::numel_after_overflow(const char* op) const {
  if (std::find(begin(), end(), 0) != end()) return 0;  // [2^40, 2^40, 0] is empty, not an overflow
  fail<ShapeError>(
      "{}: the number of elements of shape {} ({}) overflows int64 (at most 2^63 - 1); use smaller dimensions", op,
      str(), fmt::join(begin(), end(), " x "));
}

std::array<std::int64_t, Shape::kMaxRank> Shape::strides() const {
  std::array<std::int64_t, kMaxRank> s{};
  std::int64_t step = 1;
  for (int i = rank_ - 1; i >= 0; --i) {
    s[static_cast<std::size_t>(i)] = step;
    // Wraps instead of overflowing (undefined behaviour) for shapes such as [0, 2^40, 2^40],
    // whose product is 0: no element is ever read through such a stride.
    __builtin_mul_overflow(step, dims_[static_cast<std::size_t>(i)], &step);
  }
  return s;
}

Shape Shape::without(int dim) const {
  Shape out;
  for (int i = 0; i < rank_; ++i)
    if (i != dim) out.push_back((*this)[i]);
  return out;
}

std::string Shape::str() const { return fmt::format("[{}]", fmt::join(begin(), end(), ", ")); }

int normalize_dim(const char* op, int dim, int rank) {
  int r = rank == 0 ? 1 : rank;  // like PyTorch, a scalar accepts dim 0 and -1
  if (dim < -r || dim >= r)
    fail<ValueError>("{}: dim {} is out of range for a tensor of rank {}; use a dim in [{}, {}]", op, dim, rank, -r,
                     r - 1);
  return dim < 0 ? dim + r : dim;
}

}  // namespace tg
