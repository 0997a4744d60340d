// SPDX-License-Identifier: MIT
// broadcast_shapes, expand and sum_to (ops/broadcast.cpp): the one place where
// broadcasting is done and undone.
#include "framework/ops/op_test_util.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::column;
using tg::test::MessageContains;

TEST_CASE("broadcast_shapes aligns shapes on the right and stretches 1s", "[ops][broadcast]") {
  CHECK(tg::broadcast_shapes("test", {3, 1}, {1, 4}) == Shape{3, 4});
  CHECK(tg::broadcast_shapes("test", {4}, {2, 3, 4}) == Shape{2, 3, 4});
  CHECK(tg::broadcast_shapes("test", {2, 3, 4}, {4}) == Shape{2, 3, 4});
  CHECK(tg::broadcast_shapes("test", {}, {2, 3}) == Shape{2, 3});
  CHECK(tg::broadcast_shapes("test", {}, {}) == Shape{});
  CHECK(tg::broadcast_shapes("test", {2, 1, 3}, {4, 1}) == Shape{2, 4, 3});
  CHECK(tg::broadcast_shapes("test", {0, 1}, {1, 5}) == Shape{0, 5});
}

TEST_CASE("broadcast_shapes names the op, both shapes and the clashing dim", "[ops][broadcast][errors]") {
  CHECK_THROWS_MATCHES(tg::broadcast_shapes("frobnicate", {2, 3}, {4}), tg::ShapeError,
                       MessageContains({"frobnicate", "[2, 3]", "[4]", "sizes 3 and 4"}));
  CHECK_THROWS_MATCHES(tg::broadcast_shapes("frobnicate", {2, 3}, {5, 3}), tg::ShapeError,
                       MessageContains({"frobnicate", "[2, 3]", "[5, 3]", "dim 2"}));
}

TEST_CASE("expand and sum_to pass gradcheck on random shapes", "[ops][broadcast][gradcheck]") {
  tg::Generator gen(41);
  std::vector<std::pair<Shape, Shape>> pairs = {{{3, 1}, {3, 4}}, {{4}, {2, 3, 4}}, {{}, {2, 3}}, {{1, 1}, {2, 3}}};
  for (int i = 0; i < 8; ++i) {
    Shape big = tg::test::random_shape(gen, 0, 4);
    pairs.emplace_back(tg::test::broadcast_partner(gen, big), big);
  }
  for (const auto& pair : pairs) {
    const Shape &small = pair.first,
                &big = pair.second;  // references, not a structured binding: clang 14 cannot capture those
    INFO(small.str() << " <-> " << big.str());
    auto result = tg::gradcheck([&](const std::vector<Tensor>& v) { return tg::expand(v[0], big); },
                                {tg::test::uniform(small, gen, -2, 2)});
    INFO(result.message);
    REQUIRE(result.ok);
    result = tg::gradcheck([&](const std::vector<Tensor>& v) { return tg::sum_to(v[0], small); },
                           {tg::test::uniform(big, gen, -2, 2)});
    INFO(result.message);
    REQUIRE(result.ok);
  }
}

TEST_CASE("expand repeats the values along stretched and added dims", "[ops][broadcast]") {
  Tensor columns = tg::expand(column({1, 2, 3}), {3, 4});
  REQUIRE(columns.shape() == Shape{3, 4});
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t j = 0; j < 4; ++j) CHECK(columns.at({i, j}) == static_cast<float>(i + 1));

  Tensor row = tg::expand(Tensor{1, 2, 3, 4}, {2, 3, 4});
  REQUIRE(row.shape() == Shape{2, 3, 4});
  CHECK(row.at({1, 2, 3}) == 4);
  CHECK(row.at({0, 1, 0}) == 1);

  Tensor filled = tg::expand(tg::scalar(5), {2, 3});
  CHECK(allclose(filled, tg::full({2, 3}, 5), 0, 0));

  Tensor middle = tg::expand(Tensor{{{1, 2}}, {{3, 4}}}, {2, 3, 2});  // [2, 1, 2] -> [2, 3, 2]
  CHECK(allclose(middle, Tensor{{{1, 2}, {1, 2}, {1, 2}}, {{3, 4}, {3, 4}, {3, 4}}}, 0, 0));
}

TEST_CASE("sum_to adds up what expand repeated", "[ops][broadcast]") {
  Tensor x = tg::arange(24).reshape({2, 3, 4});
  CHECK(allclose(tg::sum_to(x, {4}), Tensor{60, 66, 72, 78}, 0, 0));
  CHECK(allclose(tg::sum_to(x, {3, 1}), column({60, 92, 124}), 0, 0));
  CHECK(allclose(tg::sum_to(x, {2, 1, 4}), Tensor{{{12, 15, 18, 21}}, {{48, 51, 54, 57}}}, 0, 0));
  Tensor total = tg::sum_to(x, {});
  REQUIRE(total.shape() == Shape{});
  CHECK(total.item() == 276);
  CHECK(allclose(tg::sum_to(x, {1, 1}), column({276}), 0, 0));
}

TEST_CASE("expand and sum_to are each other's backward", "[ops][broadcast]") {
  // d expand: every copy sends its gradient back, so a value repeated n times gets n dy.
  Tensor x = column({1, 2}).requires_grad_();
  tg::expand(x, {3, 2, 5}).sum().backward();
  CHECK(allclose(x.grad(), column({15, 15}), 0, 0));

  // d sum_to: every summand receives the gradient of its sum.
  Tensor y = tg::zeros({2, 3}, {.requires_grad = true});
  tg::sum_to(y, {3}).backward(Tensor{1, 2, 3});
  CHECK(allclose(y.grad(), Tensor{{1, 2, 3}, {1, 2, 3}}, 0, 0));

  Tensor z = tg::zeros({2, 3}, {.requires_grad = true});
  tg::sum_to(z, {2, 1}).backward(column({-1, 4}));
  CHECK(allclose(z.grad(), Tensor{{-1, -1, -1}, {4, 4, 4}}, 0, 0));
}

TEST_CASE("expand and sum_to to the same shape return the input itself", "[ops][broadcast][tape]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor x = tg::ones({2, 3}, {.requires_grad = true});
  CHECK(tg::expand(x, {2, 3}).impl_ptr() == x.impl_ptr());
  CHECK(tg::sum_to(x, {2, 3}).impl_ptr() == x.impl_ptr());
  CHECK(tape.size() == 0);
}

TEST_CASE("expand and sum_to record only when needed, and keep the dtype", "[ops][broadcast][tape]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor x = tg::ones({3, 1}, {.dtype = tg::kFloat64});
  CHECK(tg::expand(x, {3, 4}).dtype() == tg::kFloat64);
  CHECK(tg::sum_to(tg::ones({3, 4}, {.dtype = tg::kFloat64}), {4}).dtype() == tg::kFloat64);
  CHECK(tape.size() == 0);
  x.requires_grad_();
  {
    tg::NoGradGuard no_grad;
    CHECK_FALSE(tg::expand(x, {3, 4}).requires_grad());
    CHECK_FALSE(tg::sum_to(x, {1}).requires_grad());
    CHECK(tape.size() == 0);
  }
  Tensor e = tg::expand(x, {3, 4});
  REQUIRE(tape.size() == 1);
  CHECK(tg::test::op_name() == "expand");
  Tensor s = tg::sum_to(e, {4});
  REQUIRE(tape.size() == 2);
  CHECK(tg::test::op_name() == "sum_to");
  s.sum().backward();
  CHECK(x.grad().dtype() == tg::kFloat64);
  CHECK(allclose(x.grad(), tg::full({3, 1}, 4), 0, 0));
}

TEST_CASE("expand and sum_to reject shapes that do not fit, naming both", "[ops][broadcast][errors]") {
  CHECK_THROWS_MATCHES(tg::expand(tg::ones({3}), {4}), tg::ShapeError, MessageContains({"expand", "[3]", "[4]"}));
  CHECK_THROWS_MATCHES(tg::expand(tg::ones({2, 3}), {3}), tg::ShapeError, MessageContains({"expand", "[2, 3]", "[3]"}));
  CHECK_THROWS_MATCHES(tg::expand(tg::ones({3, 2}), {3, 1}), tg::ShapeError,
                       MessageContains({"expand", "[3, 2]", "[3, 1]"}));
  CHECK_THROWS_MATCHES(tg::sum_to(tg::ones({2, 3}), {4}), tg::ShapeError, MessageContains({"sum_to", "[2, 3]", "[4]"}));
  CHECK_THROWS_MATCHES(tg::sum_to(tg::ones({3}), {2, 3}), tg::ShapeError, MessageContains({"sum_to", "[3]", "[2, 3]"}));
  CHECK_THROWS_MATCHES(tg::sum_to(tg::ones({2, 3}), {2, 2}), tg::ShapeError,
                       MessageContains({"sum_to", "[2, 3]", "[2, 2]"}));
}
