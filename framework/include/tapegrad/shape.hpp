#pragma once
// Shape: the sizes of a tensor's dimensions, stored inline (no heap allocation), since
// every op creates a few of them.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

#include <fmt/format.h>

namespace tg {

class Shape {
 public:
  static constexpr int kMaxRank = 8;

  Shape() = default;  // rank 0: a scalar
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(std::span<const std::int64_t> dims);

  int rank() const { return rank_; }
  std::int64_t operator[](int i) const { return dims_[static_cast<std::size_t>(i)]; }
  std::int64_t& operator[](int i) { return dims_[static_cast<std::size_t>(i)]; }
  const std::int64_t* begin() const { return dims_.data(); }
  const std::int64_t* end() const { return dims_.data() + rank_; }

  // Number of elements; throws ShapeError if the product overflows int64, its message
  // starting with `op` (a factory or op passes its own name).
  std::int64_t numel(const char* op = "Shape") const {
    std::int64_t n = 1;
    bool overflow = false;
    for (std::int64_t d : *this) overflow |= __builtin_mul_overflow(n, d, &n);
    return overflow ? numel_after_overflow(op) : n;
  }
  // Row-major strides in elements: [3, 4] -> [4, 1].
  std::array<std::int64_t, kMaxRank> strides() const;

  void push_back(std::int64_t d);
  Shape without(int dim) const;  // the shape with dimension `dim` removed

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a[i] != b[i]) return false;
    return true;
  }
  std::string str() const;  // "[2, 3]"

 private:
  std::int64_t numel_after_overflow(const char* op) const;  // 0 if a dim is 0, else throws
  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

// Maps a possibly negative dim (-1 = last) into [0, rank); throws ValueError naming `op`.
int normalize_dim(const char* op, int dim, int rank);

}  // namespace tg

template <>
struct fmt::formatter<tg::Shape> : fmt::formatter<std::string> {
  auto format(const tg::Shape& s, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(s.str(), ctx);
  }
};
