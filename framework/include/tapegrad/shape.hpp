// SPDX-License-Identifier: MIT
#pragma once
// Shape: the sizes of a tensor's dimensions, stored inline (no heap allocation), since
// every op creates a few of them.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
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

// Two sizes, (height, width), of a 2-D window, stride or padding. As PyTorch's
// ExpandingArray<2>, one number stands for both: `2`, `{2, 3}` and `std::array{2, 3}` all work,
// so options read as in PyTorch: max_pool2d(x, {.kernel_size = 3, .stride = 2}).
struct Size2 {
  constexpr Size2(std::int64_t both) : h(both), w(both) {}  // NOLINT: implicit, as PyTorch takes a plain int
  constexpr Size2(std::int64_t h_, std::int64_t w_) : h(h_), w(w_) {}
  constexpr Size2(std::array<std::int64_t, 2> a) : h(a[0]), w(a[1]) {}               // NOLINT
  constexpr std::int64_t operator[](std::size_t i) const { return i == 0 ? h : w; }  // 0: h, 1: w
  friend constexpr bool operator==(const Size2&, const Size2&) = default;

  std::int64_t h;
  std::int64_t w;
};

// A Size2 that may be left unset (a pooling stride, which defaults to the kernel size). It is
// a std::optional<Size2> that also takes two sizes, so that `.stride = {2, 1}` reads as
// `.stride = 2` does (a plain std::optional would need `{{2, 1}}`).
struct OptionalSize2 : std::optional<Size2> {
  using std::optional<Size2>::optional;
  constexpr OptionalSize2(std::int64_t h, std::int64_t w) : std::optional<Size2>(Size2{h, w}) {}
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

template <>
struct fmt::formatter<tg::Size2> : fmt::formatter<std::string> {
  auto format(const tg::Size2& s, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(fmt::format("[{}, {}]", s.h, s.w), ctx);
  }
};
