// SPDX-License-Identifier: MIT
// Shape: sizes, element counts, strides and the errors that guard them.
#include <limits>

#include "test_util.hpp"

using tg::Shape;

TEST_CASE("Shape holds its sizes inline and prints them", "[shape]") {
  Shape s{2, 3, 4};
  CHECK(s.rank() == 3);
  CHECK(s[0] == 2);
  CHECK(s[2] == 4);
  CHECK(s.numel() == 24);
  CHECK(s.str() == "[2, 3, 4]");
  CHECK(fmt::format("{}", s) == "[2, 3, 4]");
  CHECK(std::vector<std::int64_t>(s.begin(), s.end()) == std::vector<std::int64_t>{2, 3, 4});

  Shape scalar;
  CHECK(scalar.rank() == 0);
  CHECK(scalar.numel() == 1);
  CHECK(scalar.str() == "[]");

  s.push_back(5);
  CHECK(s == Shape{2, 3, 4, 5});
  CHECK(s.without(1) == Shape{2, 4, 5});
  CHECK(!(s == Shape{2, 3, 4}));
  CHECK(!(Shape{2, 3} == Shape{3, 2}));
}

TEST_CASE("Shape strides are row-major", "[shape]") {
  auto s = Shape{2, 3, 4}.strides();
  CHECK(s[0] == 12);
  CHECK(s[1] == 4);
  CHECK(s[2] == 1);
}

TEST_CASE("Shape with a zero dim has no elements", "[shape]") {
  CHECK(Shape{0}.numel() == 0);
  CHECK(Shape{5, 0, 3}.numel() == 0);
  // The product is 0 however large the other dims are: that is not an overflow.
  constexpr std::int64_t huge = std::int64_t{1} << 40;
  CHECK(Shape{huge, huge, 0}.numel() == 0);
}

TEST_CASE("Shape numel overflow is a ShapeError", "[shape]") {
  constexpr std::int64_t big = std::int64_t{1} << 32;
  CHECK_THROWS_AS(Shape({big, big}).numel(), tg::ShapeError);
  CHECK_THROWS_WITH(Shape({big, big}).numel(), Catch::Contains("overflows int64"));
  CHECK(Shape{big, std::int64_t{1} << 30}.numel() == std::int64_t{1} << 62);
  CHECK_THROWS_AS(tg::zeros({big, big}), tg::ShapeError);
  // 2^62 elements fit in int64, but their bytes do not fit in size_t: no tensor may claim
  // them over a buffer whose size wrapped around to 0.
  CHECK_THROWS_AS(tg::empty({std::int64_t{1} << 62}), tg::ShapeError);
  CHECK_THROWS_WITH(tg::zeros({std::int64_t{1} << 61}, {.dtype = tg::kFloat64}),
                    Catch::Contains("needs more bytes than size_t can count"));
}

TEST_CASE("Shape rejects negative sizes and too many dims", "[shape]") {
  CHECK_THROWS_AS(Shape({2, -1}), tg::ShapeError);
  CHECK_THROWS_WITH(Shape({2, -1}), Catch::Contains("negative size -1"));
  CHECK_NOTHROW(Shape({1, 1, 1, 1, 1, 1, 1, 1}));
  CHECK_THROWS_AS(Shape({1, 1, 1, 1, 1, 1, 1, 1, 1}), tg::ShapeError);
}

TEST_CASE("normalize_dim counts negative dims from the end", "[shape]") {
  CHECK(tg::normalize_dim("op", -1, 3) == 2);
  CHECK(tg::normalize_dim("op", -3, 3) == 0);
  CHECK(tg::normalize_dim("op", 2, 3) == 2);
  CHECK(tg::normalize_dim("op", -1, 0) == 0);  // a scalar accepts 0 and -1, like PyTorch
  CHECK_THROWS_AS(tg::normalize_dim("op", 3, 3), tg::ValueError);
  CHECK_THROWS_WITH(tg::normalize_dim("sum", -4, 3), Catch::StartsWith("sum: dim -4 is out of range"));
}
