// SPDX-License-Identifier: MIT
// Linear: y = x W^T + b with PyTorch's U(-1/sqrt(in), 1/sqrt(in)) initialisation.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "test_util.hpp"

using tg::Tensor;

namespace {

// y[r, o] = b[o] + sum_i x[r, i] W[o, i], for every row r of x's trailing dim; the
// result has x's shape with the last dim replaced by out_features.
Tensor linear_by_hand(const Tensor& x, const Tensor& W, const Tensor& b) {
  std::int64_t out = W.size(0), in = W.size(1), rows = x.numel() / in;
  std::vector<double> xs = x.tolist(), w = W.tolist(), y(static_cast<std::size_t>(rows * out), 0.0);
  std::vector<double> bias = b.defined() ? b.tolist() : std::vector<double>(static_cast<std::size_t>(out), 0.0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t o = 0; o < out; ++o) {
      double acc = bias[static_cast<std::size_t>(o)];
      for (std::int64_t i = 0; i < in; ++i)
        acc += xs[static_cast<std::size_t>(r * in + i)] * w[static_cast<std::size_t>(o * in + i)];
      y[static_cast<std::size_t>(r * out + o)] = acc;
    }
  tg::Shape shape = x.shape().without(x.dim() - 1);
  shape.push_back(out);
  return tg::from_vector(y, shape);
}

struct Stats {
  double min, max, mean, mean_square;
};

Stats stats_of(const Tensor& t) {
  std::vector<double> v = t.tolist();
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  double n = static_cast<double>(v.size());
  double sum = std::accumulate(v.begin(), v.end(), 0.0);
  double sum_sq = std::inner_product(v.begin(), v.end(), v.begin(), 0.0);
  return {*lo, *hi, sum / n, sum_sq / n};
}

}  // namespace

TEST_CASE("Linear has an [out, in] weight and an [out] bias that require grad", "[layers]") {
  tg::Linear fc(3, 5);
  CHECK(fc.weight.shape() == tg::Shape{5, 3});
  CHECK(fc.bias.shape() == tg::Shape{5});
  CHECK(fc.weight.requires_grad());
  CHECK(fc.bias.requires_grad());

  auto named = fc.named_parameters();
  REQUIRE(named.size() == 2);
  CHECK(named[0].first == "weight");
  CHECK(named[0].second.impl_ptr() == fc.weight.impl_ptr());
  CHECK(named[1].first == "bias");
  CHECK(named[1].second.impl_ptr() == fc.bias.impl_ptr());

  CHECK_THROWS_AS(tg::Linear(0, 3), tg::ValueError);
  CHECK_THROWS_AS(tg::Linear(3, -1), tg::ValueError);
}

TEST_CASE("Linear initialises W and b uniformly within 1/sqrt(in_features)", "[layers]") {
  tg::Generator gen(2024);
  tg::Linear fc(400, 300, true, gen);
  const double bound = 1.0 / std::sqrt(400.0);  // 0.05

  Stats w = stats_of(fc.weight);  // 120000 samples
  CHECK(w.min >= -bound);
  CHECK(w.max <= bound);
  CHECK(w.min <= -0.999 * bound);
  CHECK(w.max >= 0.999 * bound);
  CHECK(std::abs(w.mean) <= 0.01 * bound);
  // U(-c, c) has E[x^2] = c^2 / 3.
  CHECK(w.mean_square == Approx(bound * bound / 3).epsilon(0.02));

  Stats b = stats_of(fc.bias);  // 300 samples
  CHECK(b.min >= -bound);
  CHECK(b.max <= bound);
  CHECK(b.min <= -0.9 * bound);
  CHECK(b.max >= 0.9 * bound);
  CHECK(std::abs(b.mean) <= 0.15 * bound);

  // The bound follows in_features, not out_features.
  tg::Linear wide(4, 1000, true, gen);
  Stats v = stats_of(wide.weight);
  CHECK(v.min >= -0.5);
  CHECK(v.max <= 0.5);
  CHECK(v.min <= -0.49);
  CHECK(v.max >= 0.49);

  // Same seed, same layer; another seed, another layer.
  tg::Generator g1(1), g2(1), g3(2);
  tg::Linear a(6, 4, true, g1), c(6, 4, true, g2), d(6, 4, true, g3);
  CHECK(tg::test::allclose(a.weight, c.weight, 0, 0));
  CHECK(tg::test::allclose(a.bias, c.bias, 0, 0));
  CHECK_FALSE(tg::test::allclose(a.weight, d.weight, 0, 0));
}

TEST_CASE("Linear forward is x W^T + b on [N, in], [in] and [B, N, in]", "[layers]") {
  tg::Generator gen(17);
  tg::Linear fc(3, 4, true, gen);

  SECTION("a known example") {
    {
      tg::NoGradGuard no_grad;
      fc.weight.copy_(Tensor{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, -1, 2}});
      fc.bias.copy_(Tensor{0.5, -0.5, 1, 0});
    }
    Tensor y = fc(Tensor{{1, 2, 3}, {-1, 0, 4}});
    CHECK(tg::test::allclose(y, Tensor{{1.5, 1.5, 4, 5}, {-0.5, -0.5, 5, 7}}, 0, 0));
  }
  SECTION("a batch of rows [N, in]") {
    Tensor x = tg::randn({5, 3}, gen);
    Tensor y = fc(x);
    REQUIRE(y.shape() == tg::Shape{5, 4});
    CHECK(tg::test::allclose(y, linear_by_hand(x, fc.weight, fc.bias), 1e-5, 1e-6));
    CHECK(y.requires_grad());
  }
  SECTION("a single vector [in]") {
    Tensor x = tg::randn({3}, gen);
    Tensor y = fc(x);
    REQUIRE(y.shape() == tg::Shape{4});
    CHECK(tg::test::allclose(y, linear_by_hand(x, fc.weight, fc.bias), 1e-5, 1e-6));
  }
  SECTION("batched rows [B, N, in]") {
    Tensor x = tg::randn({2, 5, 3}, gen);
    Tensor y = fc(x);
    REQUIRE(y.shape() == tg::Shape{2, 5, 4});
    CHECK(tg::test::allclose(y, linear_by_hand(x, fc.weight, fc.bias), 1e-5, 1e-6));
  }
}

TEST_CASE("Linear gradients are dW = dY^T x and db = sum of dY over the rows", "[layers]") {
  tg::Generator gen(21);
  tg::Linear fc(3, 2, true, gen);
  Tensor x = tg::randn({4, 3}, gen);
  Tensor dY = tg::randn({4, 2}, gen);
  (fc(x) * dY).sum().backward();
  std::vector<double> xs = x.tolist(), dy = dY.tolist(), dW(6, 0.0), db(2, 0.0);
  for (std::size_t r = 0; r < 4; ++r)
    for (std::size_t o = 0; o < 2; ++o) {
      db[o] += dy[r * 2 + o];
      for (std::size_t i = 0; i < 3; ++i) dW[o * 3 + i] += dy[r * 2 + o] * xs[r * 3 + i];
    }
  CHECK(tg::test::allclose(fc.weight.grad(), tg::from_vector(dW, {2, 3}), 1e-5, 1e-6));
  CHECK(tg::test::allclose(fc.bias.grad(), tg::from_vector(db, {2}), 1e-5, 1e-6));
}

TEST_CASE("Linear with bias = false has no bias", "[layers]") {
  tg::Generator gen(4);
  tg::Linear fc(3, 2, false, gen);
  CHECK_FALSE(fc.bias.defined());
  auto named = fc.named_parameters();
  REQUIRE(named.size() == 1);
  CHECK(named[0].first == "weight");
  CHECK(fc.parameters().size() == 1);

  Tensor x = tg::randn({5, 3}, gen);
  CHECK(tg::test::allclose(fc(x), linear_by_hand(x, fc.weight, Tensor()), 1e-5, 1e-6));
}

TEST_CASE("Linear rejects inputs whose last dim is not in_features", "[layers]") {
  tg::Linear fc(3, 5);
  CHECK_THROWS_AS(fc(tg::zeros({2, 4})), tg::ShapeError);
  CHECK_THROWS_WITH(fc(tg::zeros({2, 4})),
                    Catch::Contains("Linear") && Catch::Contains("[2, 4]") && Catch::Contains("[5, 3]"));
  CHECK_THROWS_AS(fc(tg::zeros({3, 2})), tg::ShapeError);  // right size, wrong dim
  CHECK_THROWS_AS(fc(tg::scalar(1.0)), tg::ShapeError);
}

TEST_CASE("gradcheck of Linear's x W^T + b", "[layers]") {
  auto linear = [](const std::vector<Tensor>& v) { return tg::matmul(v[0], v[1].t()) + v[2]; };
  tg::Generator gen(30);
  tg::Linear fc(3, 2, true, gen);
  Tensor w = fc.weight.to(tg::kFloat64), b = fc.bias.to(tg::kFloat64);
  for (tg::Shape shape : {tg::Shape{3}, tg::Shape{4, 3}, tg::Shape{2, 2, 3}}) {
    INFO("input " << shape.str());
    Tensor x = tg::randn(shape, gen, {.dtype = tg::kFloat64});
    // The layer itself gives the same values as the lambda that gradcheck differentiates.
    CHECK(tg::test::allclose(fc(x), linear({x, w, b}), 1e-6, 1e-6));
    tg::GradcheckResult r = tg::gradcheck(linear, {x, w, b});
    INFO(r.message);
    CHECK(r.ok);
  }
}
