// SPDX-License-Identifier: MIT
// MaxPool2D, AvgPool2D and Flatten: parameterless layers that call the pooling ops.
#include "framework/ops/op_test_util.hpp"
#include "tapegrad/layers/pooling.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::MessageContains;

TEST_CASE("MaxPool2D(k) has stride k and no padding by default, and no parameters", "[layers][pooling]") {
  tg::MaxPool2D pool(2);
  CHECK(pool.options.kernel_size == std::array<std::int64_t, 2>{2, 2});
  REQUIRE(pool.options.stride.has_value());
  CHECK(*pool.options.stride == std::array<std::int64_t, 2>{2, 2});
  CHECK(pool.options.padding == std::array<std::int64_t, 2>{0, 0});
  CHECK(pool.parameters().empty());
  CHECK(pool.state_dict().empty());

  tg::MaxPool2D overlapping(3, 1, 1);
  CHECK(*overlapping.options.stride == std::array<std::int64_t, 2>{1, 1});
  CHECK(overlapping.options.padding == std::array<std::int64_t, 2>{1, 1});
}

TEST_CASE("MaxPool2D and AvgPool2D forward is the op, and gradients flow through them", "[layers][pooling]") {
  tg::Generator gen(101);
  Tensor x = tg::randn({2, 3, 6, 5}, gen).requires_grad_();
  tg::MaxPool2D max_pool(2);
  tg::AvgPool2D avg_pool(3, 2, 1);
  Tensor y = max_pool(x);
  CHECK(y.shape() == Shape{2, 3, 3, 2});
  CHECK(allclose(y, tg::max_pool2d(x.detach(), {}), 0, 0));
  Tensor z = avg_pool(x);
  CHECK(z.shape() == Shape{2, 3, 3, 3});
  Tensor expected = tg::avg_pool2d(x.detach(), {.kernel_size = {3, 3}, .stride = {{2, 2}}, .padding = {1, 1}});
  CHECK(allclose(z, expected, 0, 0));

  (y.sum() + z.sum()).backward();
  REQUIRE(x.grad().defined());
  // Max pooling sends one gradient per window (12 windows per image in 6 planes) and average
  // pooling spreads each of its 9 per plane over kh kw = 9 cells, of which the padding keeps some.
  double total = x.grad().sum().item<double>();
  CHECK(total > 2 * 3 * 6);
  CHECK(total < 2 * 3 * (6 + 9));

  tg::AvgPool2D rectangular({.kernel_size = {1, 5}});
  CHECK(rectangular(x).shape() == Shape{2, 3, 6, 1});
}

TEST_CASE("Flatten keeps the batch dim by default, as nn.Flatten", "[layers][pooling]") {
  Tensor x = tg::arange(60).reshape({2, 5, 3, 2}).requires_grad_();
  tg::Flatten flatten;
  Tensor y = flatten(x);
  CHECK(y.shape() == Shape{2, 30});
  CHECK(y.tolist() == x.tolist());
  CHECK(flatten.parameters().empty());
  CHECK(tg::Flatten(0)(x).shape() == Shape{60});
  CHECK(tg::Flatten(1, 2)(x).shape() == Shape{2, 15, 2});
  y.sum().backward();
  CHECK(allclose(x.grad(), tg::ones({2, 5, 3, 2}), 0, 0));
}

TEST_CASE("the pooling layers pass the ops' errors on", "[layers][pooling][errors]") {
  CHECK_THROWS_MATCHES(tg::MaxPool2D(2)(tg::ones({4, 4})), tg::ShapeError,
                       MessageContains({"max_pool2d", "4-D", "[4, 4]"}));
  // A padding past half the kernel is refused when the layer is built, before any input.
  CHECK_THROWS_MATCHES(tg::AvgPool2D(2, 2, 2), tg::ValueError, MessageContains({"AvgPool2D", "padding 2", "[0, 1]"}));
  CHECK_THROWS_MATCHES(tg::Flatten(3, 1)(tg::ones({1, 2, 3, 4})), tg::ValueError,
                       MessageContains({"flatten", "start_dim 3"}));
}

TEST_CASE("MaxPool2D and AvgPool2D take their options by name", "[layers][pooling][options]") {
  tg::MaxPool2D strided(2, {.stride = 1});  // nn.MaxPool2d(2, stride=1)
  CHECK(strided.options.kernel_size == tg::Size2{2, 2});
  REQUIRE(strided.options.stride.has_value());
  CHECK(*strided.options.stride == tg::Size2{1, 1});
  CHECK(strided.options.padding == tg::Size2{0, 0});
  CHECK(strided(tg::zeros({1, 1, 4, 4})).shape() == Shape{1, 1, 3, 3});

  // The stride left out: it defaults to the kernel size, as in the positional form.
  tg::MaxPool2D padded(3, {.padding = 1});
  CHECK(*padded.options.stride == tg::Size2{3, 3});
  CHECK(padded.options.padding == tg::Size2{1, 1});

  tg::AvgPool2D::Options options{.stride = {2, 1}, .padding = {1, 0}};
  tg::AvgPool2D rectangular({3, 2}, options);
  CHECK(rectangular.options.kernel_size == tg::Size2{3, 2});
  CHECK(*rectangular.options.stride == tg::Size2{2, 1});
  CHECK(rectangular.options.padding == tg::Size2{1, 0});
  Tensor x = tg::randn({2, 3, 6, 5});
  Tensor expected = tg::avg_pool2d(x, {.kernel_size = {3, 2}, .stride = {2, 1}, .padding = {1, 0}});
  CHECK(rectangular(x).shape() == Shape{2, 3, 3, 4});
  CHECK(allclose(rectangular(x), expected, 0, 0));

  // Positional forms keep their meaning: a plain kernel size fits the first constructor best.
  tg::MaxPool2D braced(2, {3});
  CHECK(*braced.options.stride == tg::Size2{3, 3});
  tg::AvgPool2D three(3, 1, 1);
  CHECK(*three.options.stride == tg::Size2{1, 1});
  CHECK(three.options.padding == tg::Size2{1, 1});
}

TEST_CASE("the pooling layers check options by name when they are built", "[layers][pooling][options][errors]") {
  CHECK_THROWS_MATCHES(tg::MaxPool2D(2, {.stride = {1, 0}}), tg::ValueError,
                       MessageContains({"MaxPool2D", "stride must be >= 1, got 0"}));
  CHECK_THROWS_MATCHES(tg::AvgPool2D({4, 2}, {.padding = {2, 2}}), tg::ValueError,
                       MessageContains({"AvgPool2D", "padding 2", "[0, 1]"}));
  CHECK_THROWS_MATCHES(tg::AvgPool2D({0, 2}, {}), tg::ValueError,
                       MessageContains({"AvgPool2D", "kernel_size must be >= 1, got 0"}));
}
