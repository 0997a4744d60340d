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
