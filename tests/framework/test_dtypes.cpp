// SPDX-License-Identifier: MIT
// Integer and boolean tensors (tg::kInt64, tg::kBool) against PyTorch: printing, comparisons,
// type promotion, factories and conversions, the refusal to require grad, item()/at() and sum.
//
// Every expected value below was produced by torch 1.13 (Debian's python3-torch, so run
// /usr/bin/python3, not the first python3 on PATH), e.g.
//   /usr/bin/python3 -c "import torch; print(repr(str(torch.tensor([1, -20, 300]))))"
// The one intended difference in printing: tapegrad says dtype=tg.int64 where torch says
// dtype=torch.int64 (as for float64, tests/framework/test_format.cpp).
#include <cstdint>
#include <limits>
#include <sstream>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "test_util.hpp"

using tg::Tensor;
using tg::test::MessageContains;

namespace {

std::string str(const Tensor& t) { return tg::to_string(t); }

// A bool (or any) tensor's elements as 0/1 integers, in row-major order.
std::vector<int> ints(const Tensor& t) {
  std::vector<int> out;
  for (double v : t.tolist()) out.push_back(static_cast<int>(v));
  return out;
}

Tensor f64(std::initializer_list<tg::NestedList> values) { return tg::tensor(values, {.dtype = tg::kFloat64}); }

// torch.lt/le/gt/ge/eq/ne(a, b), flattened, as 0/1.
struct Comparisons {
  std::vector<int> lt, le, gt, ge, eq, ne;
};

template <class B>
void check_comparisons(int line, const Tensor& a, const B& b, const tg::Shape& shape, const Comparisons& expected) {
  INFO("checked from line " << line);
  const std::vector<std::pair<Tensor, const std::vector<int>*>> results{
      {tg::lt(a, b), &expected.lt}, {tg::le(a, b), &expected.le}, {tg::gt(a, b), &expected.gt},
      {tg::ge(a, b), &expected.ge}, {tg::eq(a, b), &expected.eq}, {tg::ne(a, b), &expected.ne}};
  const char* names[] = {"lt", "le", "gt", "ge", "eq", "ne"};
  for (std::size_t k = 0; k < results.size(); ++k) {
    INFO(names[k]);
    const Tensor& r = results[k].first;
    CHECK(r.dtype() == tg::kBool);
    CHECK(r.shape() == shape);
    CHECK(ints(r) == *results[k].second);
  }
}

// The dtype and values of a result.
void check_result(int line, const Tensor& r, tg::Dtype dtype, const std::vector<double>& values) {
  INFO("checked from line " << line);
  CHECK(r.dtype() == dtype);
  CHECK(r.tolist() == values);
}

}  // namespace

// The helpers with the caller's line, which a failure reports.
#define CHECK_COMPARISONS(...) check_comparisons(__LINE__, __VA_ARGS__)
#define CHECK_RESULT(...) check_result(__LINE__, __VA_ARGS__)

// ---- printing ----

TEST_CASE("int64 tensors print as torch prints them: no dot, right-aligned, no dtype", "[dtype][format]") {
  // print(torch.tensor([1, -20, 300]))
  CHECK(str(tg::tensor({1, -20, 300})) == "tensor([  1, -20, 300])");
  // print(torch.tensor([[1, 2, 3], [-4, 50, 600]]))
  CHECK(str(tg::tensor({{1, 2, 3}, {-4, 50, 600}})) == "tensor([[  1,   2,   3],\n        [ -4,  50, 600]])");
  // print(torch.tensor([[[1, 2], [3, 4]], [[5, 6], [7, 8]]]))
  CHECK(str(tg::tensor({{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}})) ==
        "tensor([[[1, 2],\n         [3, 4]],\n\n        [[5, 6],\n         [7, 8]]])");
  // print(torch.tensor(7)), print(torch.tensor(-42))
  CHECK(str(tg::scalar(7, {.dtype = tg::kInt64})) == "tensor(7)");
  CHECK(str(tg::scalar(-42, {.dtype = tg::kInt64})) == "tensor(-42)");
  // print(torch.tensor([0, 0]))
  CHECK(str(tg::zeros({2}, {.dtype = tg::kInt64})) == "tensor([0, 0])");
  // fmt and operator<< print the same.
  std::ostringstream out;
  out << tg::tensor({1, -20, 300});
  CHECK(out.str() == "tensor([  1, -20, 300])");
  CHECK(fmt::format("{}", tg::tensor({1, -20, 300})) == "tensor([  1, -20, 300])");
}

TEST_CASE("large int64 values print every digit, never in scientific notation", "[dtype][format]") {
  // print(torch.tensor([123456789012, -5]))
  CHECK(str(tg::tensor({std::int64_t{123456789012}, -5})) == "tensor([123456789012,           -5])");
  // print(torch.tensor([9223372036854775807, -9223372036854775808]))
  CHECK(str(tg::tensor({std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()})) ==
        "tensor([ 9223372036854775807, -9223372036854775808])");
  // print(torch.tensor([2**53 + 1])): a double would print 9007199254740992
  CHECK(str(tg::tensor({std::int64_t{9007199254740993}})) == "tensor([9007199254740993])");
}

TEST_CASE("long int64 rows wrap at 80 columns as in torch", "[dtype][format]") {
  Tensor r = tg::arange(30, {.dtype = tg::kInt64}) * 100000;
  // print(torch.arange(30) * 100000)
  CHECK(str(r) ==
        "tensor([      0,  100000,  200000,  300000,  400000,  500000,  600000,  700000,\n"
        "         800000,  900000, 1000000, 1100000, 1200000, 1300000, 1400000, 1500000,\n"
        "        1600000, 1700000, 1800000, 1900000, 2000000, 2100000, 2200000, 2300000,\n"
        "        2400000, 2500000, 2600000, 2700000, 2800000, 2900000])");
  // print(torch.arange(40).reshape(2, 20) * 1000)
  CHECK(str(tg::arange(40, {.dtype = tg::kInt64}).reshape({2, 20}) * 1000) ==
        "tensor([[    0,  1000,  2000,  3000,  4000,  5000,  6000,  7000,  8000,  9000,\n"
        "         10000, 11000, 12000, 13000, 14000, 15000, 16000, 17000, 18000, 19000],\n"
        "        [20000, 21000, 22000, 23000, 24000, 25000, 26000, 27000, 28000, 29000,\n"
        "         30000, 31000, 32000, 33000, 34000, 35000, 36000, 37000, 38000, 39000]])");
}

TEST_CASE("bool tensors print True and False, right-aligned", "[dtype][format]") {
  // print(torch.tensor([True, False, True]))
  CHECK(str(tg::tensor({true, false, true})) == "tensor([ True, False,  True])");
  // print(torch.tensor([[True, False], [False, True]]))
  CHECK(str(tg::tensor({{true, false}, {false, true}})) == "tensor([[ True, False],\n        [False,  True]])");
  // print(torch.tensor(True))
  CHECK(str(tg::scalar(true, {.dtype = tg::kBool})) == "tensor(True)");
  // print(torch.ones(3, dtype=torch.bool)), print(torch.full((2, 2), True))
  CHECK(str(tg::ones({3}, {.dtype = tg::kBool})) == "tensor([True, True, True])");
  CHECK(str(tg::full({2, 2}, true, {.dtype = tg::kBool})) == "tensor([[True, True],\n        [True, True]])");
}

TEST_CASE("large int64 and bool tensors are summarised as torch does", "[dtype][format]") {
  // print(torch.arange(2000))
  CHECK(str(tg::arange(2000, {.dtype = tg::kInt64})) == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
  // print(torch.arange(2000) % 2 == 0)
  Tensor even = tg::zeros({2000}, {.dtype = tg::kBool});
  for (std::int64_t i = 0; i < 2000; i += 2) even.data<bool>()[i] = true;
  CHECK(str(even) == "tensor([ True, False,  True,  ..., False,  True, False])");
}

TEST_CASE("float tensors keep their dot, int64 ones have none", "[dtype][format]") {
  // print(torch.tensor([1., 2.])), print(torch.tensor([1, 2]))
  CHECK(str(tg::tensor({1.0, 2.0})) == "tensor([1., 2.])");
  CHECK(str(tg::tensor({1, 2})) == "tensor([1, 2])");
  CHECK(str(tg::tensor({1, 2}).to(tg::kFloat32)) == "tensor([1., 2.])");
  // print(torch.tensor([1., 2.], dtype=torch.float64))
  CHECK(str(tg::tensor({1, 2}).to(tg::kFloat64)) == "tensor([1., 2.], dtype=tg.float64)");
  // print(torch.tensor([True, False]).float())
  CHECK(str(tg::tensor({true, false}).to(tg::kFloat32)) == "tensor([1., 0.])");
}

TEST_CASE("empty int64 and bool tensors name their dtype, as torch does", "[dtype][format]") {
  // torch/_tensor_str.py: "In an empty tensor, there are no elements to infer if the dtype
  // should be int64, so it must be shown explicitly."
  // print(torch.tensor([], dtype=torch.float32)), print(torch.zeros(0, dtype=torch.float64))
  CHECK(str(tg::zeros({0})) == "tensor([])");
  CHECK(str(tg::zeros({0}, {.dtype = tg::kFloat64})) == "tensor([], dtype=tg.float64)");
  // print(torch.tensor([], dtype=torch.int64))
  CHECK(str(tg::zeros({0}, {.dtype = tg::kInt64})) == "tensor([], dtype=tg.int64)");
  // print(torch.tensor([], dtype=torch.bool))
  CHECK(str(tg::zeros({0}, {.dtype = tg::kBool})) == "tensor([], dtype=tg.bool)");
  // print(torch.zeros(2, 0, dtype=torch.int64))
  CHECK(str(tg::zeros({2, 0}, {.dtype = tg::kInt64})) == "tensor([], size=(2, 0), dtype=tg.int64)");
}

// ---- comparisons ----

TEST_CASE("comparisons of int64 tensors broadcast and give bool", "[dtype][compare]") {
  // torch.lt(torch.tensor([[1, 5], [3, 2]]), torch.tensor([2, 3])), and le, gt, ge, eq, ne
  CHECK_COMPARISONS(tg::tensor({{1, 5}, {3, 2}}), tg::tensor({2, 3}), {2, 2},
                    {.lt = {1, 0, 0, 1},
                     .le = {1, 0, 0, 1},
                     .gt = {0, 1, 1, 0},
                     .ge = {0, 1, 1, 0},
                     .eq = {0, 0, 0, 0},
                     .ne = {1, 1, 1, 1}});
  // The operators are the same functions.
  Tensor a = tg::tensor({{1, 5}, {3, 2}}), b = tg::tensor({2, 5});
  CHECK(ints(a < b) == ints(tg::lt(a, b)));
  CHECK(ints(a <= b) == std::vector{1, 1, 0, 1});
  CHECK(ints(a > b) == std::vector{0, 0, 1, 0});
  CHECK(ints(a >= b) == std::vector{0, 1, 1, 0});
  CHECK(ints(a == b) == std::vector{0, 1, 0, 0});
  CHECK(ints(a != b) == std::vector{1, 0, 1, 1});
  CHECK((a == b).dtype() == tg::kBool);
}

TEST_CASE("comparisons of float tensors broadcast and give bool", "[dtype][compare]") {
  // torch.tensor([[1.5, -2.], [0., 2.]]) vs torch.tensor([[0.5], [0.]])
  CHECK_COMPARISONS(tg::tensor({{1.5, -2.0}, {0.0, 2.0}}), tg::tensor({{0.5}, {0.0}}), {2, 2},
                    {.lt = {0, 1, 0, 0},
                     .le = {0, 1, 1, 0},
                     .gt = {1, 0, 0, 1},
                     .ge = {1, 0, 1, 1},
                     .eq = {0, 0, 1, 0},
                     .ne = {1, 1, 0, 1}});
  // torch.tensor([0.5, nan]) == torch.tensor([0.5, nan]) -> [True, False]; != nan -> [True, True]
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(ints(tg::eq(tg::tensor({0.5, nan}), tg::tensor({0.5, nan}))) == std::vector{1, 0});
  CHECK(ints(tg::ne(tg::tensor({0.5, nan}), nan)) == std::vector{1, 1});
}

TEST_CASE("comparisons of mixed dtypes compare in the promoted dtype", "[dtype][compare]") {
  // torch.tensor([1, 2, 3]) vs torch.tensor([0.5, 2.0, 3.5])
  CHECK_COMPARISONS(
      tg::tensor({1, 2, 3}), tg::tensor({0.5, 2.0, 3.5}), {3},
      {.lt = {0, 0, 1}, .le = {0, 1, 1}, .gt = {1, 0, 0}, .ge = {1, 1, 0}, .eq = {0, 1, 0}, .ne = {1, 0, 1}});
  // torch.tensor([1.5, 2., 2.5], dtype=torch.float64) vs torch.tensor(2)
  CHECK_COMPARISONS(
      f64({1.5, 2.0, 2.5}), tg::scalar(2, {.dtype = tg::kInt64}), {3},
      {.lt = {1, 0, 0}, .le = {1, 1, 0}, .gt = {0, 0, 1}, .ge = {0, 1, 1}, .eq = {0, 1, 0}, .ne = {1, 0, 1}});
  // torch.tensor([True, False, True]) vs torch.tensor([1, 0, 0])
  CHECK_COMPARISONS(
      tg::tensor({true, false, true}), tg::tensor({1, 0, 0}), {3},
      {.lt = {0, 0, 0}, .le = {1, 1, 0}, .gt = {0, 0, 1}, .ge = {1, 1, 1}, .eq = {1, 1, 0}, .ne = {0, 0, 1}});
  // torch.tensor([True, False, True, False]) vs torch.tensor([True, True, False, False])
  CHECK_COMPARISONS(tg::tensor({true, false, true, false}), tg::tensor({true, true, false, false}), {4},
                    {.lt = {0, 1, 0, 0},
                     .le = {1, 1, 0, 1},
                     .gt = {0, 0, 1, 0},
                     .ge = {1, 0, 1, 1},
                     .eq = {1, 0, 0, 1},
                     .ne = {0, 1, 1, 0}});
  // 0-d operands give a 0-d bool: torch.tensor(2) < torch.tensor(2.5)
  Tensor r = tg::lt(tg::scalar(2, {.dtype = tg::kInt64}), tg::scalar(2.5));
  CHECK(r.dtype() == tg::kBool);
  CHECK(r.dim() == 0);
  CHECK(r.item<bool>());
}

TEST_CASE("comparisons with a number follow the number's kind", "[dtype][compare]") {
  // torch.tensor([1, 2, 3]) vs 2
  CHECK_COMPARISONS(
      tg::tensor({1, 2, 3}), tg::Scalar(2), {3},
      {.lt = {1, 0, 0}, .le = {1, 1, 0}, .gt = {0, 0, 1}, .ge = {0, 1, 1}, .eq = {0, 1, 0}, .ne = {1, 0, 1}});
  // torch.tensor([1, 2, 3]) vs 1.5
  CHECK_COMPARISONS(
      tg::tensor({1, 2, 3}), tg::Scalar(1.5), {3},
      {.lt = {1, 0, 0}, .le = {1, 0, 0}, .gt = {0, 1, 1}, .ge = {0, 1, 1}, .eq = {0, 0, 0}, .ne = {1, 1, 1}});
  // torch.tensor([1.5, 2., 2.5]) vs 2
  CHECK_COMPARISONS(
      tg::tensor({1.5, 2.0, 2.5}), tg::Scalar(2), {3},
      {.lt = {1, 0, 0}, .le = {1, 1, 0}, .gt = {0, 0, 1}, .ge = {0, 1, 1}, .eq = {0, 1, 0}, .ne = {1, 0, 1}});
  // torch.tensor([True, False]) vs 1, vs True, vs 0.5
  CHECK_COMPARISONS(tg::tensor({true, false}), tg::Scalar(1), {2},
                    {.lt = {0, 1}, .le = {1, 1}, .gt = {0, 0}, .ge = {1, 0}, .eq = {1, 0}, .ne = {0, 1}});
  CHECK_COMPARISONS(tg::tensor({true, false}), tg::Scalar(true), {2},
                    {.lt = {0, 1}, .le = {1, 1}, .gt = {0, 0}, .ge = {1, 0}, .eq = {1, 0}, .ne = {0, 1}});
  CHECK_COMPARISONS(tg::tensor({true, false}), tg::Scalar(0.5), {2},
                    {.lt = {0, 1}, .le = {0, 1}, .gt = {1, 0}, .ge = {1, 0}, .eq = {0, 0}, .ne = {1, 1}});
}

TEST_CASE("int64 comparisons are exact beyond float precision; a float number compares in float32",
          "[dtype][compare]") {
  // torch.tensor([16777217]) == 16777216 -> False (int64); == 16777216.0 -> True (float32)
  CHECK(ints(tg::tensor({16777217}) == 16777216) == std::vector{0});
  CHECK(ints(tg::tensor({16777217}) == 16777216.0) == std::vector{1});
  // torch.tensor([9007199254740993]) > torch.tensor([9007199254740992]) -> True
  CHECK(ints(tg::tensor({std::int64_t{9007199254740993}}) > tg::tensor({std::int64_t{9007199254740992}})) ==
        std::vector{1});
  CHECK(ints(tg::tensor({std::int64_t{9007199254740993}}) != std::int64_t{9007199254740992}) == std::vector{1});
}

TEST_CASE("comparisons are never differentiated and name themselves on bad shapes", "[dtype][compare][autograd]") {
  Tensor x = tg::tensor({-1.0, 0.5, 2.0}, {.requires_grad = true});
  const std::size_t before = tg::Tape::current().size();
  Tensor r = x > 0;
  Tensor s = tg::le(x, x * 2);
  CHECK(tg::Tape::current().size() == before + 1);  // only the mul
  CHECK(ints(r) == std::vector{0, 1, 1});
  CHECK(ints(s) == std::vector{0, 1, 1});
  CHECK_FALSE(r.requires_grad());
  CHECK_FALSE(s.requires_grad());
  CHECK(r.is_leaf());
  CHECK(s.is_leaf());
  CHECK_THROWS_MATCHES(tg::ge(tg::tensor({1, 2, 3}), tg::tensor({1, 2})), tg::ShapeError,
                       MessageContains({"ge", "[3]", "[2]"}));
}

// ---- type promotion ----

TEST_CASE("binary ops between tensors promote as torch.result_type", "[dtype][promotion]") {
  Tensor i = tg::tensor({1, 2, 3}), f = tg::tensor({1.0, 2.0, 3.0}), d = f64({1, 2, 3});
  Tensor b = tg::tensor({true, false, true});
  REQUIRE(i.dtype() == tg::kInt64);
  REQUIRE(f.dtype() == tg::kFloat32);
  REQUIRE(b.dtype() == tg::kBool);
  // torch.result_type(i, f) == torch.float32; i + f == tensor([2., 4., 6.])
  CHECK_RESULT(i + f, tg::kFloat32, {2, 4, 6});
  CHECK_RESULT(f - i, tg::kFloat32, {0, 0, 0});
  // torch.result_type(i, d) == torch.float64
  CHECK_RESULT(i + d, tg::kFloat64, {2, 4, 6});
  CHECK_RESULT(i * d, tg::kFloat64, {1, 4, 9});
  // torch.result_type(i, i) == torch.int64
  CHECK_RESULT(i + i, tg::kInt64, {2, 4, 6});
  CHECK_RESULT(i * i, tg::kInt64, {1, 4, 9});
  CHECK_RESULT(i - i, tg::kInt64, {0, 0, 0});
  // torch.result_type(b, i) == torch.int64: b + i == tensor([2, 2, 4])
  CHECK_RESULT(b + i, tg::kInt64, {2, 2, 4});
  CHECK_RESULT(i * b, tg::kInt64, {1, 0, 3});
  // torch.result_type(b, b) == torch.bool: b + b and b * b == tensor([True, False, True])
  CHECK_RESULT(b + b, tg::kBool, {1, 0, 1});
  CHECK_RESULT(b * b, tg::kBool, {1, 0, 1});
  // true division: i / i == tensor([1., 1., 1.]) (float32)
  CHECK_RESULT(i / i, tg::kFloat32, {1, 1, 1});
  CHECK_RESULT(f / i, tg::kFloat32, {1, 1, 1});
  CHECK_RESULT(b / i, tg::kFloat32, {1, 0, 1.0f / 3.0f});
}

TEST_CASE("0-d tensors take part in promotion only with a higher category", "[dtype][promotion]") {
  Tensor i = tg::tensor({1, 2, 3}), f = tg::tensor({1.0, 2.0, 3.0}), b = tg::tensor({true, false, true});
  Tensor i0 = tg::scalar(2, {.dtype = tg::kInt64}), f0 = tg::scalar(2.0);
  Tensor d0 = tg::scalar(2.0, {.dtype = tg::kFloat64}), b0 = tg::scalar(true, {.dtype = tg::kBool});
  // torch.result_type(i, d0) == torch.float64: i + d0 == tensor([3., 4., 5.], dtype=torch.float64)
  CHECK_RESULT(i + d0, tg::kFloat64, {3, 4, 5});
  // torch.result_type(i, f0) == torch.float32
  CHECK_RESULT(i + f0, tg::kFloat32, {3, 4, 5});
  // torch.result_type(f, d0) == torch.float32
  CHECK_RESULT(f + d0, tg::kFloat32, {3, 4, 5});
  // torch.result_type(b, i0) == torch.int64: b + i0 == tensor([3, 2, 3])
  CHECK_RESULT(b + i0, tg::kInt64, {3, 2, 3});
  // torch.result_type(i, b0) == torch.int64
  CHECK_RESULT(i + b0, tg::kInt64, {2, 3, 4});
  // torch.result_type(i0, f) == torch.float32; torch.tensor([1., 2., 3.]) - torch.tensor(2)
  CHECK_RESULT(i0 + f, tg::kFloat32, {3, 4, 5});
  CHECK_RESULT(f - i0, tg::kFloat32, {-1, 0, 1});
  // Two 0-d tensors promote as tensors with dims: torch.result_type(i0, d0) == torch.float64,
  // torch.result_type(b0, i0) == torch.int64, torch.tensor(True) + torch.tensor(True) == tensor(True)
  CHECK_RESULT(i0 + d0, tg::kFloat64, {4});
  CHECK_RESULT(b0 + i0, tg::kInt64, {3});
  CHECK_RESULT(b0 + b0, tg::kBool, {1});
  CHECK((i0 + d0).dim() == 0);
}

TEST_CASE("a number next to a tensor promotes by its kind, doubles to float32", "[dtype][promotion]") {
  Tensor i = tg::tensor({1, 2, 3}), b = tg::tensor({true, false, true});
  // torch.result_type(i, 2.5) == torch.float32 (the default dtype, not float64)
  CHECK_RESULT(i * 2.5, tg::kFloat32, {2.5, 5, 7.5});
  CHECK_RESULT(2.5 * i, tg::kFloat32, {2.5, 5, 7.5});
  CHECK_RESULT(i + 0.5, tg::kFloat32, {1.5, 2.5, 3.5});
  // torch.result_type(i, 2) == torch.int64
  CHECK_RESULT(i * 2, tg::kInt64, {2, 4, 6});
  CHECK_RESULT(i - 1, tg::kInt64, {0, 1, 2});
  CHECK_RESULT(10 - i, tg::kInt64, {9, 8, 7});
  // torch.result_type(i, True) == torch.int64
  CHECK_RESULT(i + true, tg::kInt64, {2, 3, 4});
  // torch.result_type(b, 2) == torch.int64; b + 2 == tensor([3, 2, 3])
  CHECK_RESULT(b + 2, tg::kInt64, {3, 2, 3});
  // torch.result_type(b, 2.5) == torch.float32; b * 2.5 == tensor([2.5, 0., 2.5])
  CHECK_RESULT(b * 2.5, tg::kFloat32, {2.5, 0, 2.5});
  // torch.result_type(b, True) == torch.bool; b + True == tensor([True, True, True])
  CHECK_RESULT(b + true, tg::kBool, {1, 1, 1});
  // A float tensor stays float32 with any number: torch.tensor([1.]) * 2 is float32.
  CHECK_RESULT(tg::tensor({1.0}) * 2, tg::kFloat32, {2});
  CHECK_RESULT(f64({1}) * 2.5, tg::kFloat64, {2.5});
  // torch.tensor(3) * 2.5 == tensor(7.5000) (float32, 0-d)
  CHECK_RESULT(tg::scalar(3, {.dtype = tg::kInt64}) * 2.5, tg::kFloat32, {7.5});
  // true division: torch.tensor([7, -7]) / 2 == tensor([3.5, -3.5]); 2 / i == [2., 1., 0.6667]
  CHECK_RESULT(tg::tensor({7, -7}) / 2, tg::kFloat32, {3.5, -3.5});
  Tensor q = 2 / i;
  CHECK(q.dtype() == tg::kFloat32);
  CHECK(tg::test::allclose(q, tg::tensor({2.0, 1.0, 2.0 / 3.0})));
}

TEST_CASE("unary ops keep int64 where torch does", "[dtype][promotion]") {
  Tensor i = tg::tensor({-1, 2, -3});
  // -torch.tensor([-1, 2, -3]), .square(), .relu(): int64
  CHECK_RESULT(-i, tg::kInt64, {1, -2, 3});
  CHECK_RESULT(i.square(), tg::kInt64, {1, 4, 9});
  CHECK_RESULT(i.relu(), tg::kInt64, {0, 2, 0});
}

TEST_CASE("ops refuse bool where torch does, naming the op and the dtype", "[dtype][promotion]") {
  Tensor i = tg::tensor({1, 2, 3}), b = tg::tensor({true, false, true});
  // i - b, b - i, b - b, 1 - b, b - 1: torch raises "Subtraction, the `-` operator, with a bool
  // tensor is not supported"; -b: "Negation, the `-` operator, on a bool tensor is not supported"
  CHECK_THROWS_MATCHES(i - b, tg::DtypeError, MessageContains({"sub", "bool"}));
  CHECK_THROWS_MATCHES(b - i, tg::DtypeError, MessageContains({"sub", "bool"}));
  CHECK_THROWS_MATCHES(b - b, tg::DtypeError, MessageContains({"sub", "bool"}));
  CHECK_THROWS_MATCHES(1 - b, tg::DtypeError, MessageContains({"rsub", "bool"}));
  CHECK_THROWS_MATCHES(b - 1, tg::DtypeError, MessageContains({"sub", "bool"}));
  CHECK_THROWS_MATCHES(-b, tg::DtypeError, MessageContains({"neg", "bool"}));
  // torch.tensor([1, 2, 3]).mean(): "mean(): could not infer output dtype ... Got: Long"
  CHECK_THROWS_MATCHES(i.mean(), tg::DtypeError, MessageContains({"mean", "int64", "to(tg::kFloat32)"}));
}

TEST_CASE("ops documented as floating-only refuse int64 and bool with the fix", "[dtype][promotion]") {
  // torch accepts these (torch.tensor([1, 2]).exp() is float32, torch.tensor([True]).square()
  // is int64, int64 @ int64 is int64); tapegrad's registry lists floating dtypes only for exp,
  // log, sigmoid, tanh, matmul, and numeric ones for square and relu, so a refusal naming the op,
  // the dtype and the conversion is the documented behaviour.
  Tensor i = tg::tensor({1, 2}), b = tg::tensor({true, false});
  CHECK_THROWS_MATCHES(i.exp(), tg::DtypeError, MessageContains({"exp", "int64", "to(tg::kFloat32)"}));
  CHECK_THROWS_MATCHES(i.sigmoid(), tg::DtypeError, MessageContains({"sigmoid", "int64"}));
  CHECK_THROWS_MATCHES(b.log(), tg::DtypeError, MessageContains({"log", "bool"}));
  CHECK_THROWS_MATCHES(b.square(), tg::DtypeError, MessageContains({"square", "bool"}));
  CHECK_THROWS_MATCHES(tg::matmul(i, i), tg::DtypeError, MessageContains({"matmul", "int64"}));
  CHECK_NOTHROW(i.to(tg::kFloat32).exp());
}

TEST_CASE("in-place ops keep the dtype of the tensor written, as torch", "[dtype][promotion][inplace]") {
  // t = torch.tensor([10, 20]); t.mul_(torch.tensor([True, False])) -> tensor([10, 0])
  Tensor t = tg::tensor({10, 20});
  t *= tg::tensor({true, false});
  CHECK_RESULT(t, tg::kInt64, {10, 0});
  // t.add_(torch.tensor([1, 1]), alpha=2) -> tensor([12, 2])
  t.add_(tg::tensor({1, 1}), 2);
  CHECK_RESULT(t, tg::kInt64, {12, 2});
  // torch.tensor([True, False]).add_(torch.tensor([True, True])) -> tensor([True, True])
  Tensor m = tg::tensor({true, false});
  m += tg::tensor({true, true});
  CHECK_RESULT(m, tg::kBool, {1, 1});
  // "result type Float can't be cast to the desired output type Long": t.add_(2.5), t.div_(2)
  CHECK_THROWS_MATCHES(t += 2.5, tg::DtypeError, MessageContains({"float32", "int64"}));
  CHECK_THROWS_MATCHES(t /= 2, tg::DtypeError, MessageContains({"float32", "int64"}));
  // "result type Long can't be cast to the desired output type Bool": torch.tensor([True]).add_(1)
  CHECK_THROWS_MATCHES(m += 1, tg::DtypeError, MessageContains({"int64", "bool"}));
  CHECK_RESULT(t, tg::kInt64, {12, 2});  // refused writes change nothing
}

TEST_CASE("in-place add_ and sub_ on int64 refuse a fractional alpha, as torch", "[dtype][promotion][inplace]") {
  // t = torch.tensor([10, 20]); t.add_(torch.tensor([1, 1]), alpha=0.5) raises "For integral
  // input tensors, argument alpha must not be a floating point number." (and so does sub_).
  Tensor t = tg::tensor({10, 20});
  CHECK_THROWS_MATCHES(t.add_(tg::tensor({1, 1}), 0.5), tg::ValueError,
                       MessageContains({"add_", "alpha 0.5", "int64 tensor [2]", "integer alpha"}));
  CHECK_THROWS_MATCHES(t.sub_(tg::tensor({1, 1}), 1.5), tg::ValueError, MessageContains({"sub_", "alpha 1.5"}));
  t.add_(tg::tensor({1, 1}), 3);  // an integer alpha is fine
  t.sub_(tg::tensor({1, 1}), 3);
  // Whatever it does, it must not silently drop or truncate alpha.
  CHECK(t.tolist() == std::vector<double>{10, 20});
}

TEST_CASE("a float tensor that requires grad mixed with int64 gets a gradient in its own dtype",
          "[dtype][promotion][autograd]") {
  Tensor x = tg::tensor({1.0, 2.0, 3.0}, {.requires_grad = true});
  Tensor i = tg::tensor({4, 5, 6});
  Tensor y = x * i;
  CHECK(y.dtype() == tg::kFloat32);
  CHECK(y.requires_grad());
  y.sum().backward();
  REQUIRE(x.grad().defined());
  CHECK_RESULT(x.grad(), tg::kFloat32, {4, 5, 6});
  CHECK_FALSE(i.grad().defined());

  // float32 leaf with a float64 tensor: the result is float64, the gradient comes back float32.
  Tensor w = tg::tensor({1.0, 2.0}, {.requires_grad = true});
  Tensor z = w * f64({0.5, 0.25});
  CHECK(z.dtype() == tg::kFloat64);
  z.sum().backward();
  CHECK_RESULT(w.grad(), tg::kFloat32, {0.5, 0.25});
}

// ---- factories and conversions ----

TEST_CASE("factories make int64 and bool tensors", "[dtype][factory]") {
  Tensor z = tg::zeros({2, 3}, {.dtype = tg::kInt64});
  CHECK(z.dtype() == tg::kInt64);
  CHECK(z.shape() == tg::Shape{2, 3});
  CHECK(z.tolist() == std::vector<double>(6, 0));
  CHECK_RESULT(tg::ones({3}, {.dtype = tg::kInt64}), tg::kInt64, {1, 1, 1});
  CHECK_RESULT(tg::ones({2}, {.dtype = tg::kBool}), tg::kBool, {1, 1});
  CHECK_RESULT(tg::zeros({2}, {.dtype = tg::kBool}), tg::kBool, {0, 0});
  // torch.full((2,), 7, dtype=torch.int64); torch.full((2,), 2.9, dtype=torch.int64) -> [2, 2]
  CHECK_RESULT(tg::full({2}, 7, {.dtype = tg::kInt64}), tg::kInt64, {7, 7});
  CHECK_RESULT(tg::full({2}, 2.9, {.dtype = tg::kInt64}), tg::kInt64, {2, 2});
  CHECK_RESULT(tg::full({2}, true, {.dtype = tg::kBool}), tg::kBool, {1, 1});
  CHECK_RESULT(tg::scalar(-5, {.dtype = tg::kInt64}), tg::kInt64, {-5});
  CHECK_RESULT(tg::zeros_like(tg::tensor({1, 2})), tg::kInt64, {0, 0});
  CHECK_RESULT(tg::ones_like(tg::tensor({true, false})), tg::kBool, {1, 1});
  // Integers beyond 2^53 keep every digit through from_vector's int64 overload.
  std::vector<std::int64_t> big{std::int64_t{9007199254740993}, -3};
  Tensor v = tg::from_vector(big, {2});
  CHECK(v.dtype() == tg::kInt64);
  CHECK(v.at<std::int64_t>({0}) == std::int64_t{9007199254740993});
}

TEST_CASE("arange with int64 counts and steps as torch.arange", "[dtype][factory]") {
  // torch.arange(0, 5, dtype=torch.int64); torch.arange(1, 10, 3, dtype=torch.int64) -> [1, 4, 7]
  CHECK_RESULT(tg::arange(5, {.dtype = tg::kInt64}), tg::kInt64, {0, 1, 2, 3, 4});
  CHECK_RESULT(tg::arange(1, 10, 3, {.dtype = tg::kInt64}), tg::kInt64, {1, 4, 7});
  CHECK_RESULT(tg::arange(5, 0, -2, {.dtype = tg::kInt64}), tg::kInt64, {5, 3, 1});
  // torch.arange(0.5, 3, dtype=torch.int64) -> tensor([0, 1, 2])
  CHECK_RESULT(tg::arange(0.5, 3, 1, {.dtype = tg::kInt64}), tg::kInt64, {0, 1, 2});
  // torch.arange(-2.5, 2, 1, dtype=torch.int64) -> tensor([-2, -1, 0, 1]): for an integer dtype
  // torch casts start, end and step to int64 first (aten/src/ATen/native/RangeFactories.cpp).
  CHECK_RESULT(tg::arange(-2.5, 2, 1, {.dtype = tg::kInt64}), tg::kInt64, {-2, -1, 0, 1});
  // torch.arange(0, 3, 0.5, dtype=torch.int64) raises "step must be nonzero" (0.5 -> 0);
  // torch.arange(5, dtype=torch.bool) raises "arange_cpu" not implemented for 'Bool'.
  CHECK_THROWS_MATCHES(tg::arange(0, 3, 0.5, {.dtype = tg::kInt64}), tg::ValueError,
                       MessageContains({"arange", "step becomes 0", "int64"}));
  CHECK_THROWS_MATCHES(tg::arange(5, {.dtype = tg::kBool}), tg::DtypeError, MessageContains({"arange", "bool"}));
}

TEST_CASE("tg::tensor infers the dtype as torch.tensor; Tensor{...} is always float32", "[dtype][factory]") {
  // torch.tensor([0, 3, 1]).dtype == torch.int64, torch.tensor([True, False]).dtype == torch.bool,
  // torch.tensor([0, 0.5]).dtype == torch.float32, torch.tensor([True, 2]) == tensor([1, 2]),
  // torch.tensor([True, 2.5]) == tensor([1.0, 2.5])
  CHECK_RESULT(tg::tensor({0, 3, 1}), tg::kInt64, {0, 3, 1});
  CHECK_RESULT(tg::tensor({{0, 3}, {1, 2}}), tg::kInt64, {0, 3, 1, 2});
  CHECK_RESULT(tg::tensor({true, false}), tg::kBool, {1, 0});
  CHECK_RESULT(tg::tensor({0, 0.5}), tg::kFloat32, {0, 0.5});
  CHECK_RESULT(tg::tensor({true, 2}), tg::kInt64, {1, 2});
  CHECK_RESULT(tg::tensor({true, 2.5}), tg::kFloat32, {1, 2.5});
  CHECK_RESULT(tg::tensor({std::int64_t{5}}), tg::kInt64, {5});
  // The options override the inference: torch.tensor([1, 2], dtype=torch.bool) -> [True, True],
  // torch.tensor([1.7, -1.7], dtype=torch.int64) -> [1, -1]
  CHECK_RESULT(tg::tensor({1, 2}, {.dtype = tg::kBool}), tg::kBool, {1, 1});
  CHECK_RESULT(tg::tensor({1.7, -1.7}, {.dtype = tg::kInt64}), tg::kInt64, {1, -1});
  // Documented in tensor.hpp: the Tensor constructor gives float32 whatever the numbers.
  CHECK_RESULT(Tensor{1, 2, 3}, tg::kFloat32, {1, 2, 3});
  CHECK_RESULT(Tensor{true, false}, tg::kFloat32, {1, 0});
}

TEST_CASE("to() converts between dtypes as torch: toward zero for int64, nonzero for bool", "[dtype][factory]") {
  // torch.tensor([-1.7, 1.7, -0.2, 2.9]).to(torch.int64) -> tensor([-1, 1, 0, 2])
  CHECK_RESULT(tg::tensor({-1.7, 1.7, -0.2, 2.9}).to(tg::kInt64), tg::kInt64, {-1, 1, 0, 2});
  CHECK_RESULT(f64({-1.7, 1.7}).to(tg::kInt64), tg::kInt64, {-1, 1});
  // torch.tensor([-1.7, 0.0, 0.2, -0.0]).to(torch.bool) -> tensor([True, False, True, False])
  CHECK_RESULT(tg::tensor({-1.7, 0.0, 0.2, -0.0}).to(tg::kBool), tg::kBool, {1, 0, 1, 0});
  // torch.tensor([0, -3, 5]).to(torch.bool) -> tensor([False, True, True])
  CHECK_RESULT(tg::tensor({0, -3, 5}).to(tg::kBool), tg::kBool, {0, 1, 1});
  // torch.tensor([True, False]).to(torch.float32) / .to(torch.int64)
  CHECK_RESULT(tg::tensor({true, false}).to(tg::kFloat32), tg::kFloat32, {1, 0});
  CHECK_RESULT(tg::tensor({true, false}).to(tg::kInt64), tg::kInt64, {1, 0});
  // torch.tensor([16777217]).to(torch.float32).to(torch.int64) -> tensor([16777216])
  CHECK_RESULT(tg::tensor({16777217}).to(tg::kFloat32).to(tg::kInt64), tg::kInt64, {16777216});
  CHECK_RESULT(tg::tensor({16777217}).to(tg::kFloat64), tg::kFloat64, {16777217});
  // copy_ converts too: torch.tensor([1, 2]).copy_(torch.tensor([1.9, -2.9])) -> tensor([1, -2])
  Tensor t = tg::tensor({1, 2});
  t.copy_(tg::tensor({1.9, -2.9}));
  CHECK_RESULT(t, tg::kInt64, {1, -2});
}

TEST_CASE("to() an integer dtype is not recorded, and its result needs no grad", "[dtype][factory][autograd]") {
  Tensor x = tg::tensor({-1.5, 2.5}, {.requires_grad = true});
  const std::size_t before = tg::Tape::current().size();
  Tensor i = x.to(tg::kInt64);
  Tensor b = x.to(tg::kBool);
  CHECK(tg::Tape::current().size() == before);
  CHECK_FALSE(i.requires_grad());
  CHECK_FALSE(b.requires_grad());
  CHECK(i.is_leaf());
  CHECK(b.is_leaf());
  CHECK_RESULT(i, tg::kInt64, {-1, 2});
}

// ---- integer tensors never require grad ----

TEST_CASE("int64 and bool tensors refuse to require grad, naming the dtype and the fix", "[dtype][autograd]") {
  auto refused = MessageContains({"int64", "floating-point", ".to(tg::kFloat32)"});
  auto refused_bool = MessageContains({"bool", "floating-point", ".to(tg::kFloat32)"});
  CHECK_THROWS_MATCHES(tg::zeros({2}, {.dtype = tg::kInt64, .requires_grad = true}), tg::DtypeError, refused);
  // The factory names itself, and nothing was made.
  CHECK_THROWS_MATCHES(tg::zeros({2}, {.dtype = tg::kInt64, .requires_grad = true}), tg::DtypeError,
                       MessageContains({"zeros: only floating-point tensors can require grad", "int64"}));
  CHECK_THROWS_MATCHES(tg::arange(3, {.dtype = tg::kInt64, .requires_grad = true}), tg::DtypeError,
                       MessageContains({"arange:"}));
  CHECK_THROWS_MATCHES(tg::tensor({1, 2}, {.dtype = tg::kInt64, .requires_grad = true}), tg::DtypeError,
                       MessageContains({"tensor:"}));
  CHECK_THROWS_MATCHES(tg::ones({2}, {.dtype = tg::kBool, .requires_grad = true}), tg::DtypeError, refused_bool);
  CHECK_THROWS_MATCHES(tg::full({2}, 3, {.dtype = tg::kInt64, .requires_grad = true}), tg::DtypeError, refused);
  CHECK_THROWS_MATCHES(tg::empty({2}, {.dtype = tg::kInt64, .requires_grad = true}), tg::DtypeError, refused);
  CHECK_THROWS_MATCHES(tg::scalar(3, {.dtype = tg::kInt64, .requires_grad = true}), tg::DtypeError, refused);
  CHECK_THROWS_MATCHES(tg::arange(3, {.dtype = tg::kInt64, .requires_grad = true}), tg::DtypeError, refused);
  CHECK_THROWS_MATCHES(tg::tensor({1, 2}, {.dtype = tg::kInt64, .requires_grad = true}), tg::DtypeError, refused);
  CHECK_THROWS_MATCHES(tg::tensor({true}, {.dtype = tg::kBool, .requires_grad = true}), tg::DtypeError, refused_bool);
  std::vector<std::int64_t> labels{1, 2};
  CHECK_THROWS_MATCHES(tg::from_vector(labels, {2}, {.dtype = tg::kInt64, .requires_grad = true}), tg::DtypeError,
                       refused);
  CHECK_THROWS_MATCHES(tg::from_vector(std::vector<double>{1, 2}, {2}, {.dtype = tg::kBool, .requires_grad = true}),
                       tg::DtypeError, refused_bool);
}

TEST_CASE("requires_grad_() on an int64 or bool tensor throws and leaves it as it was", "[dtype][autograd]") {
  Tensor i = tg::tensor({1, 2});
  CHECK_THROWS_MATCHES(i.requires_grad_(), tg::DtypeError,
                       MessageContains({"requires_grad_", "int64", "[2]", ".to(tg::kFloat32)"}));
  CHECK_FALSE(i.requires_grad());
  Tensor b = tg::tensor({true});
  CHECK_THROWS_MATCHES(b.requires_grad_(true), tg::DtypeError, MessageContains({"requires_grad_", "bool"}));
  CHECK_FALSE(b.requires_grad());
  CHECK_NOTHROW(i.requires_grad_(false));  // asking for no grad is fine
  // The fix the message gives works.
  CHECK(i.to(tg::kFloat32).requires_grad_().requires_grad());
}

// ---- item(), at(), sum ----

TEST_CASE("item() and at() read and write int64 and bool elements", "[dtype]") {
  Tensor big = tg::tensor({std::int64_t{123456789012}});
  CHECK(big.item<std::int64_t>() == std::int64_t{123456789012});
  CHECK(tg::tensor({std::int64_t{9007199254740993}}).item<std::int64_t>() == std::int64_t{9007199254740993});
  CHECK(tg::scalar(-7, {.dtype = tg::kInt64}).item<std::int64_t>() == -7);
  CHECK(tg::scalar(-7, {.dtype = tg::kInt64}).item<float>() == -7.0f);
  CHECK(tg::scalar(-7, {.dtype = tg::kInt64}).item<double>() == -7.0);
  CHECK(tg::scalar(true, {.dtype = tg::kBool}).item<bool>());
  CHECK_FALSE(tg::tensor({false}).item<bool>());
  CHECK(tg::tensor({true}).item<std::int64_t>() == 1);
  CHECK(tg::tensor({2.9}).item<std::int64_t>() == 2);

  Tensor m = tg::tensor({{1, 2, 3}, {4, 5, 6}});
  CHECK(m.at<std::int64_t>({1, 0}) == 4);
  CHECK(m.at<std::int64_t>({-1, -1}) == 6);
  const std::uint32_t version = m.version();
  m.at<std::int64_t>({0, 1}) = 20;
  m.at<std::int64_t>({0, 2}) += 7;
  CHECK_RESULT(m, tg::kInt64, {1, 20, 10, 4, 5, 6});
  CHECK(m.version() > version);

  Tensor b = tg::tensor({true, false});
  CHECK(b.at<bool>({0}));
  b.at<bool>({1}) = true;
  CHECK_RESULT(b, tg::kBool, {1, 1});

  // The element type must match the dtype.
  CHECK_THROWS_MATCHES(m.at<float>({0, 0}), tg::DtypeError, MessageContains({"int64", "float32", "std::int64_t"}));
  CHECK_THROWS_MATCHES(b.at<std::int64_t>({0}), tg::DtypeError, MessageContains({"bool", "int64"}));
  CHECK_THROWS_MATCHES(tg::tensor({1.0}).at<std::int64_t>({0}), tg::DtypeError, MessageContains({"float32"}));
}

TEST_CASE("sum of bool and int64 tensors is int64, as torch", "[dtype][reduce]") {
  // torch.tensor([True, False]).sum() -> tensor(1) (int64)
  Tensor s = tg::tensor({true, false, true}).sum();
  CHECK(s.dtype() == tg::kInt64);
  CHECK(s.dim() == 0);
  CHECK(s.item<std::int64_t>() == 2);
  // torch.tensor([[True, True], [False, True]]).sum(1) -> tensor([2, 1])
  CHECK_RESULT(tg::tensor({{true, true}, {false, true}}).sum(1), tg::kInt64, {2, 1});
  // torch.tensor([[1, 2], [3, 4]]).sum(0) -> tensor([4, 6]); keepdim keeps the dim
  CHECK_RESULT(tg::tensor({{1, 2}, {3, 4}}).sum(0), tg::kInt64, {4, 6});
  Tensor k = tg::tensor({{1, 2}, {3, 4}}).sum(-1, true);
  CHECK(k.shape() == tg::Shape{2, 1});
  CHECK_RESULT(k, tg::kInt64, {3, 7});
  // torch.tensor([2**53, 1]).sum() -> tensor(9007199254740993): exact, no float rounding
  CHECK(tg::tensor({std::int64_t{9007199254740992}, 1}).sum().item<std::int64_t>() == std::int64_t{9007199254740993});
  // A mask counts: (x > 0).sum()
  CHECK((tg::tensor({-1.0, 0.5, 2.0, 0.0}) > 0).sum().item<std::int64_t>() == 2);
}
