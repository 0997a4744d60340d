// SPDX-License-Identifier: MIT
// Conv2D: the seed's single-channel layer, forward(x) = corr2d(x, weight) + bias, and the
// NCHW layer, forward(x) = conv2d(x, weight, bias, {stride, padding}).
#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "test_util.hpp"

using tg::Tensor;

namespace {

// Y[i, j] = bias + sum_{a, b} X[i + a, j + b] K[a, b], as loops over plain numbers.
Tensor corr2d_by_hand(const Tensor& X, const Tensor& K, double bias = 0) {
  std::int64_t h = X.size(0), w = X.size(1), kh = K.size(0), kw = K.size(1);
  std::int64_t oh = h - kh + 1, ow = w - kw + 1;
  std::vector<double> x = X.tolist(), k = K.tolist(), y(static_cast<std::size_t>(oh * ow), bias);
  for (std::int64_t i = 0; i < oh; ++i)
    for (std::int64_t j = 0; j < ow; ++j)
      for (std::int64_t a = 0; a < kh; ++a)
        for (std::int64_t b = 0; b < kw; ++b)
          y[static_cast<std::size_t>(i * ow + j)] +=
              x[static_cast<std::size_t>((i + a) * w + j + b)] * k[static_cast<std::size_t>(a * kw + b)];
  return tg::from_vector(y, {oh, ow});
}

// dX[p, q] = sum_{a, b} dY[p - a, q - b] K[a, b], over the terms that fall inside dY.
Tensor full_convolution_by_hand(const Tensor& dY, const Tensor& K) {
  std::int64_t oh = dY.size(0), ow = dY.size(1), kh = K.size(0), kw = K.size(1);
  std::int64_t h = oh + kh - 1, w = ow + kw - 1;
  std::vector<double> dy = dY.tolist(), k = K.tolist(), dx(static_cast<std::size_t>(h * w), 0.0);
  for (std::int64_t p = 0; p < h; ++p)
    for (std::int64_t q = 0; q < w; ++q)
      for (std::int64_t a = 0; a < kh; ++a)
        for (std::int64_t b = 0; b < kw; ++b) {
          std::int64_t i = p - a, j = q - b;
          if (i >= 0 && i < oh && j >= 0 && j < ow)
            dx[static_cast<std::size_t>(p * w + q)] +=
                dy[static_cast<std::size_t>(i * ow + j)] * k[static_cast<std::size_t>(a * kw + b)];
        }
  return tg::from_vector(dx, {h, w});
}

double sum_of(const Tensor& t) {
  double s = 0;
  for (double v : t.tolist()) s += v;
  return s;
}

}  // namespace

TEST_CASE("Conv2D has a [kh, kw] weight and a [1] bias that require grad", "[layers]") {
  tg::Conv2D conv(tg::Shape{2, 3});
  CHECK(conv.weight.shape() == tg::Shape{2, 3});
  CHECK(conv.bias.shape() == tg::Shape{1});
  CHECK(conv.weight.dtype() == tg::kFloat32);
  CHECK(conv.weight.requires_grad());
  CHECK(conv.bias.requires_grad());
  CHECK(conv.weight.is_leaf());
  CHECK(conv.bias.is_leaf());

  auto named = conv.named_parameters();
  REQUIRE(named.size() == 2);
  CHECK(named[0].first == "weight");
  CHECK(named[0].second.impl_ptr() == conv.weight.impl_ptr());
  CHECK(named[1].first == "bias");
  CHECK(named[1].second.impl_ptr() == conv.bias.impl_ptr());
}

TEST_CASE("Conv2D draws weight then bias from randn of its generator", "[layers]") {
  tg::Generator g1(7), g2(7), g3(8);
  tg::Conv2D a(tg::Shape{3, 2}, g1), b(tg::Shape{3, 2}, g2), c(tg::Shape{3, 2}, g3);
  CHECK(tg::test::allclose(a.weight, b.weight, 0, 0));
  CHECK(tg::test::allclose(a.bias, b.bias, 0, 0));
  CHECK_FALSE(tg::test::allclose(a.weight, c.weight, 0, 0));
  CHECK_FALSE(tg::test::allclose(a.bias, c.bias, 0, 0));

  tg::Generator reference(7);
  Tensor weight = tg::randn({3, 2}, reference);
  Tensor bias = tg::randn({1}, reference);
  CHECK(tg::test::allclose(a.weight, weight, 0, 0));
  CHECK(tg::test::allclose(a.bias, bias, 0, 0));

  // Without a generator the layer draws from the default one, so manual_seed reproduces it.
  tg::manual_seed(123);
  tg::Conv2D d(tg::Shape{2, 2});
  tg::manual_seed(123);
  tg::Conv2D e(tg::Shape{2, 2});
  CHECK(tg::test::allclose(d.weight, e.weight, 0, 0));
  CHECK(tg::test::allclose(d.bias, e.bias, 0, 0));
  tg::Conv2D f(tg::Shape{2, 2});  // the default generator has moved on
  CHECK_FALSE(tg::test::allclose(e.weight, f.weight, 0, 0));
}

TEST_CASE("Conv2D forward is corr2d(x, weight) + bias", "[layers]") {
  SECTION("the notebook's example with a bias of 0.5") {
    tg::Conv2D conv(tg::Shape{2, 2});
    {
      tg::NoGradGuard no_grad;
      conv.weight.copy_(Tensor{{0, 1}, {2, 3}});
      conv.bias.fill_(0.5);
    }
    Tensor Y = conv(Tensor{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}});
    CHECK(tg::test::allclose(Y, Tensor{{19.5, 25.5}, {37.5, 43.5}}, 0, 0));
    CHECK(Y.requires_grad());
  }
  SECTION("random input and a non-square kernel") {
    tg::Generator gen(3);
    tg::Conv2D conv(tg::Shape{2, 3}, gen);
    Tensor X = tg::randn({5, 6}, gen);
    Tensor Y = conv.forward(X);
    REQUIRE(Y.shape() == tg::Shape{4, 4});
    CHECK(tg::test::allclose(Y, corr2d_by_hand(X, conv.weight, conv.bias.item<double>()), 1e-5, 1e-5));
  }
}

TEST_CASE("Conv2D gradients match the closed form dbias = sum dY, dweight = corr2d(X, dY)", "[layers]") {
  tg::Generator gen(5);
  tg::Conv2D conv(tg::Shape{3, 2}, gen);
  Tensor X = tg::randn({6, 5}, gen).requires_grad_();
  Tensor dY = tg::randn({4, 4}, gen);
  // L = sum(Y * dY) has dL/dY = dY.
  (conv(X) * dY).sum().backward();

  REQUIRE(conv.weight.grad().defined());
  REQUIRE(conv.bias.grad().defined());
  CHECK(tg::test::allclose(conv.weight.grad(), corr2d_by_hand(X, dY), 1e-5, 1e-5));
  CHECK(tg::test::allclose(conv.bias.grad(), tg::from_vector({sum_of(dY)}, {1}), 1e-5, 1e-5));
  CHECK(tg::test::allclose(X.grad(), full_convolution_by_hand(dY, conv.weight), 1e-5, 1e-5));

  // A second backward accumulates: every gradient doubles.
  Tensor weight_grad = conv.weight.grad().clone(), bias_grad = conv.bias.grad().clone();
  (conv(X) * dY).sum().backward();
  CHECK(tg::test::allclose(conv.weight.grad(), weight_grad * 2.0, 1e-5, 1e-5));
  CHECK(tg::test::allclose(conv.bias.grad(), bias_grad * 2.0, 1e-5, 1e-5));
}

TEST_CASE("gradcheck through Conv2D's corr2d(x, w) + b", "[layers]") {
  auto layer = [](const std::vector<Tensor>& v) { return tg::corr2d(v[0], v[1]) + v[2]; };
  for (tg::Shape kernel : {tg::Shape{1, 1}, tg::Shape{2, 3}, tg::Shape{4, 5}}) {
    INFO("kernel " << kernel.str());
    tg::Generator gen(9);
    tg::Conv2D conv(kernel, gen);
    Tensor x = tg::randn({4, 5}, gen, {.dtype = tg::kFloat64});
    tg::GradcheckResult r = tg::gradcheck(layer, {x, conv.weight.to(tg::kFloat64), conv.bias.to(tg::kFloat64)});
    INFO(r.message);
    CHECK(r.ok);
    CHECK(r.max_error < 1e-6);
  }
}

TEST_CASE("Conv2D rejects kernel sizes that are not two positive sizes", "[layers]") {
  CHECK_THROWS_AS(tg::Conv2D(tg::Shape{3}), tg::ShapeError);
  CHECK_THROWS_AS(tg::Conv2D(tg::Shape{}), tg::ShapeError);
  CHECK_THROWS_AS(tg::Conv2D(tg::Shape{2, 2, 2}), tg::ShapeError);
  CHECK_THROWS_AS(tg::Conv2D(tg::Shape{0, 2}), tg::ShapeError);
  CHECK_THROWS_AS(tg::Conv2D(tg::Shape{2, 0}), tg::ShapeError);
  CHECK_THROWS_AS(tg::Conv2D(tg::Shape{-1, 2}), tg::ShapeError);
  CHECK_THROWS_WITH(tg::Conv2D(tg::Shape{2, 2, 2}), Catch::Contains("Conv2D") && Catch::Contains("[2, 2, 2]"));

  // A kernel that does not fit the input, or an input that is not 2-D, fails in forward.
  tg::Conv2D conv(tg::Shape{3, 3});
  CHECK_THROWS_AS(conv(tg::zeros({2, 5})), tg::ShapeError);
  CHECK_THROWS_AS(conv(tg::zeros({1, 4, 4})), tg::ShapeError);
}

// ---- the NCHW layer: Conv2D(in_channels, out_channels, kernel_size, stride, padding, bias) ----

TEST_CASE("NCHW Conv2D has weight [O, C, kh, kw] and bias [O], named like nn.Conv2d", "[layers][conv2d]") {
  tg::Conv2D conv(3, 4, {2, 5}, {2, 1}, {1, 0});
  CHECK(conv.weight.shape() == tg::Shape{4, 3, 2, 5});
  CHECK(conv.bias.shape() == tg::Shape{4});
  CHECK(conv.weight.requires_grad());
  CHECK(conv.bias.requires_grad());
  CHECK(conv.options.stride == std::array<std::int64_t, 2>{2, 1});
  CHECK(conv.options.padding == std::array<std::int64_t, 2>{1, 0});
  auto named = conv.named_parameters();
  REQUIRE(named.size() == 2);
  CHECK(named[0].first == "weight");
  CHECK(named[0].second.impl_ptr() == conv.weight.impl_ptr());
  CHECK(named[1].first == "bias");
  CHECK(named[1].second.impl_ptr() == conv.bias.impl_ptr());

  tg::Conv2D no_bias(1, 6, {5, 5}, {1, 1}, {2, 2}, false);
  CHECK_FALSE(no_bias.bias.defined());
  REQUIRE(no_bias.named_parameters().size() == 1);
  CHECK(no_bias.named_parameters()[0].first == "weight");
}

TEST_CASE("NCHW Conv2D draws weight, then bias, from U(-1/sqrt(fan_in), 1/sqrt(fan_in))", "[layers][conv2d]") {
  tg::Generator gen(11), reference(11);
  tg::Conv2D conv(6, 16, {5, 5}, {1, 1}, {0, 0}, true, gen);
  double bound = 1.0 / std::sqrt(6.0 * 5 * 5);  // fan_in = C kh kw = 150
  auto within = [&](const Tensor& t, double& largest) {
    largest = 0;
    for (double v : t.tolist()) largest = std::max(largest, std::abs(v));
    return largest < bound;
  };
  double largest_weight = 0, largest_bias = 0;
  CHECK(within(conv.weight, largest_weight));
  CHECK(within(conv.bias, largest_bias));
  CHECK(largest_weight > 0.95 * bound);  // 2400 draws fill the interval
  CHECK(largest_bias > 0.5 * bound);
  Tensor weight = tg::rand({16, 6, 5, 5}, reference) * (2 * bound) - bound;
  Tensor bias = tg::rand({16}, reference) * (2 * bound) - bound;
  CHECK(tg::test::allclose(conv.weight, weight, 0, 0));
  CHECK(tg::test::allclose(conv.bias, bias, 0, 0));
}

TEST_CASE("NCHW Conv2D forward is conv2d with its weight, bias, stride and padding", "[layers][conv2d]") {
  tg::Generator gen(12);
  tg::Conv2D conv(3, 2, {3, 2}, {2, 1}, {0, 2}, true, gen);
  Tensor x = tg::randn({2, 3, 7, 6}, gen).requires_grad_();
  Tensor y = conv(x);
  REQUIRE(y.shape() == tg::Shape{2, 2, 3, 9});
  Tensor expected = tg::conv2d(x, conv.weight, conv.bias, {.stride = {2, 1}, .padding = {0, 2}});
  CHECK(tg::test::allclose(y, expected, 0, 0));
  y.sum().backward();
  REQUIRE(conv.weight.grad().defined());
  CHECK(conv.weight.grad().shape() == conv.weight.shape());
  CHECK(tg::test::allclose(conv.bias.grad(), tg::full({2}, 2 * 3 * 9), 0, 0));
  CHECK(x.grad().shape() == x.shape());

  tg::Conv2D lenet_c1(1, 6, 5, 1, 2);  // nn.Conv2d(1, 6, kernel_size=5, padding=2)
  CHECK(lenet_c1(tg::zeros({4, 1, 28, 28})).shape() == tg::Shape{4, 6, 28, 28});
  CHECK_THROWS_MATCHES(lenet_c1(tg::zeros({4, 3, 28, 28})), tg::ShapeError,
                       tg::test::MessageContains({"input has 3 channels but weight expects 1 ([O=6, C=1, 5, 5])"}));
}

TEST_CASE("NCHW Conv2D rejects bad sizes, strides and paddings", "[layers][conv2d]") {
  CHECK_THROWS_AS(tg::Conv2D(0, 2, 3), tg::ValueError);
  CHECK_THROWS_AS(tg::Conv2D(1, -1, {3, 3}), tg::ValueError);
  CHECK_THROWS_AS(tg::Conv2D(1, 2, 0), tg::ShapeError);
  CHECK_THROWS_AS(tg::Conv2D(1, 2, {3, 0}), tg::ShapeError);
  CHECK_THROWS_MATCHES(tg::Conv2D(1, 2, 3, {0, 1}), tg::ValueError,
                       tg::test::MessageContains({"Conv2D", "stride", "(0, 1)"}));
  CHECK_THROWS_MATCHES(tg::Conv2D(1, 2, {3, 3}, 1, {0, -1}), tg::ValueError,
                       tg::test::MessageContains({"Conv2D", "padding", "(0, -1)"}));
}

// ---- the NCHW layer's options by name: Conv2D(in, out, kernel_size, {.stride, .padding, .bias}) ----

TEST_CASE("NCHW Conv2D takes its options by name, as PyTorch's keyword arguments", "[layers][conv2d][options]") {
  tg::Conv2D strided(1, 16, 3, {.stride = 2, .padding = 1});  // nn.Conv2d(1, 16, 3, stride=2, padding=1)
  CHECK(strided.weight.shape() == tg::Shape{16, 1, 3, 3});
  CHECK(strided.bias.shape() == tg::Shape{16});
  CHECK(strided.options.stride == tg::Size2{2, 2});
  CHECK(strided.options.padding == tg::Size2{1, 1});
  CHECK(strided(tg::zeros({2, 1, 28, 28})).shape() == tg::Shape{2, 16, 14, 14});

  tg::Conv2D no_bias(1, 16, 3, {.padding = 1, .bias = false});
  CHECK(no_bias.options.stride == tg::Size2{1, 1});
  CHECK(no_bias.options.padding == tg::Size2{1, 1});
  CHECK_FALSE(no_bias.bias.defined());
  CHECK(no_bias.named_parameters().size() == 1);

  tg::Conv2D::Options options{.stride = {2, 1}, .padding = {0, 2}};
  tg::Conv2D by_alias(3, 2, {3, 2}, options);
  CHECK(by_alias.options.stride == tg::Size2{2, 1});
  CHECK(by_alias.options.padding == tg::Size2{0, 2});
  CHECK(by_alias(tg::zeros({2, 3, 7, 6})).shape() == tg::Shape{2, 2, 3, 9});

  tg::Conv2D defaults(2, 4, 3, {});  // every option at PyTorch's default
  CHECK(defaults.options.stride == tg::Size2{1, 1});
  CHECK(defaults.options.padding == tg::Size2{0, 0});
  CHECK(defaults.bias.defined());
}

TEST_CASE("Conv2D's positional forms keep their meaning next to the options form", "[layers][conv2d][options]") {
  tg::Conv2D plain(1, 16, 3);
  CHECK(plain.weight.shape() == tg::Shape{16, 1, 3, 3});
  CHECK(plain.options.stride == tg::Size2{1, 1});
  CHECK(plain.options.padding == tg::Size2{0, 0});
  tg::Conv2D rectangular(1, 16, {5, 3});
  CHECK(rectangular.weight.shape() == tg::Shape{16, 1, 5, 3});
  // A positional brace list fits both constructors; it stays the stride, as before the options form.
  tg::Conv2D braced_stride(1, 16, 3, {2, 1});
  CHECK(braced_stride.options.stride == tg::Size2{2, 1});
  CHECK(braced_stride.options.padding == tg::Size2{0, 0});
  tg::Conv2D one_stride(1, 16, 3, {2});
  CHECK(one_stride.options.stride == tg::Size2{2, 2});
  tg::Conv2D positional(1, 16, 3, 2, 1, false);
  CHECK(positional.options.stride == tg::Size2{2, 2});
  CHECK(positional.options.padding == tg::Size2{1, 1});
  CHECK_FALSE(positional.bias.defined());
}

TEST_CASE("Conv2D with options draws from the generator given, as the positional form does",
          "[layers][conv2d][options]") {
  tg::Generator gen(21), same(21);
  tg::Conv2D by_name(2, 3, 3, {.stride = 2, .padding = 1}, gen);
  tg::Conv2D positional(2, 3, 3, 2, 1, true, same);
  CHECK(tg::test::allclose(by_name.weight, positional.weight, 0, 0));
  CHECK(tg::test::allclose(by_name.bias, positional.bias, 0, 0));
  Tensor x = tg::randn({1, 2, 6, 6}, gen);
  CHECK(tg::test::allclose(by_name(x), positional(x), 0, 0));
}

TEST_CASE("Conv2D with options rejects bad strides and paddings as the positional form does",
          "[layers][conv2d][options]") {
  CHECK_THROWS_MATCHES(tg::Conv2D(1, 2, 3, {.stride = {0, 1}}), tg::ValueError,
                       tg::test::MessageContains({"Conv2D", "stride", "(0, 1)"}));
  CHECK_THROWS_MATCHES(tg::Conv2D(1, 2, 3, {.padding = -1}), tg::ValueError,
                       tg::test::MessageContains({"Conv2D", "padding", "(-1, -1)"}));
  CHECK_THROWS_AS(tg::Conv2D(0, 2, 3, {.stride = 2}), tg::ValueError);
}
