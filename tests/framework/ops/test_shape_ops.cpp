// SPDX-License-Identifier: MIT
// reshape, transpose, permute (ops/shape_ops.cpp), and the two recorded tensor methods
// that copy data, Tensor::to and Tensor::clone.
#include <algorithm>
#include <numeric>

#include "framework/ops/op_test_util.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::MessageContains;

namespace {

// The shape with the same elements regrouped: the sizes of `shape` multiplied together
// in random runs, so [2, 3, 4] may become [6, 4], [2, 12] or [24].
Shape regrouped(tg::Generator& gen, const Shape& shape) {
  Shape out;
  std::int64_t run = 1;
  for (int d = 0; d < shape.rank(); ++d) {
    run *= shape[d];
    if (d == shape.rank() - 1 || gen.uniform() < 0.5) {
      out.push_back(run);
      run = 1;
    }
  }
  return out;
}

// A random permutation of 0 .. rank-1.
std::vector<int> random_permutation(tg::Generator& gen, int rank) {
  std::vector<int> dims(static_cast<std::size_t>(rank));
  std::iota(dims.begin(), dims.end(), 0);
  for (int i = rank - 1; i > 0; --i)
    std::swap(dims[static_cast<std::size_t>(i)], dims[static_cast<std::size_t>(tg::test::random_int(gen, 0, i))]);
  return dims;
}

// permute takes an initializer_list; this applies a runtime permutation of rank <= 4.
Tensor permute_by(const Tensor& x, const std::vector<int>& d) {
  switch (d.size()) {
    case 0:
      return tg::permute(x, {});
    case 1:
      return tg::permute(x, {d[0]});
    case 2:
      return tg::permute(x, {d[0], d[1]});
    case 3:
      return tg::permute(x, {d[0], d[1], d[2]});
    default:
      return tg::permute(x, {d[0], d[1], d[2], d[3]});
  }
}

}  // namespace

TEST_CASE("reshape passes gradcheck on random shapes", "[ops][shape][gradcheck]") {
  tg::Generator gen(61);
  for (int i = 0; i < 8; ++i) {
    Shape shape = tg::test::random_shape(gen, 0, 4);
    Shape target = regrouped(gen, shape);
    INFO(shape.str() << " -> " << target.str());
    Tensor x = tg::test::uniform(shape, gen, -2, 2);
    auto result =
        tg::gradcheck([&](const std::vector<Tensor>& v) { return tg::reshape(v[0], target) * v[0].sum(); }, {x});
    INFO(result.message);
    REQUIRE(result.ok);
    result = tg::gradcheck([](const std::vector<Tensor>& v) { return tg::reshape(v[0], {-1}); }, {x});
    INFO(result.message);
    REQUIRE(result.ok);
  }
}

TEST_CASE("transpose and permute pass gradcheck on random shapes", "[ops][shape][gradcheck]") {
  tg::Generator gen(62);
  for (int i = 0; i < 8; ++i) {
    Shape shape = tg::test::random_shape(gen, 1, 4);
    Tensor x = tg::test::uniform(shape, gen, -2, 2);
    for (int d0 = -shape.rank(); d0 < shape.rank(); ++d0) {
      int d1 = static_cast<int>(tg::test::random_int(gen, 0, shape.rank() - 1));
      INFO(shape.str() << " transpose " << d0 << ", " << d1);
      auto result = tg::gradcheck([&](const std::vector<Tensor>& v) { return tg::transpose(v[0], d0, d1); }, {x});
      INFO(result.message);
      REQUIRE(result.ok);
    }
    std::vector<int> dims = random_permutation(gen, shape.rank());
    INFO(shape.str() << " permute " << fmt::format("{}", fmt::join(dims, ", ")));
    auto result = tg::gradcheck([&](const std::vector<Tensor>& v) { return permute_by(v[0], dims); }, {x});
    INFO(result.message);
    REQUIRE(result.ok);
  }
}

TEST_CASE("Tensor::to and Tensor::clone pass gradcheck", "[ops][shape][gradcheck]") {
  tg::Generator gen(63);
  for (int i = 0; i < 4; ++i) {
    Shape shape = tg::test::random_shape(gen, 0, 3);
    INFO("shape " << shape.str());
    Tensor x = tg::test::uniform(shape, gen, -2, 2);
    auto result = tg::gradcheck([](const std::vector<Tensor>& v) { return v[0].clone() * v[0]; }, {x});
    INFO(result.message);
    REQUIRE(result.ok);
    // Through float32 and back the function is x -> round(x) * 3: linear, so a large step
    // is exact up to the float32 rounding of x.
    result = tg::gradcheck([](const std::vector<Tensor>& v) { return v[0].to(tg::kFloat32).to(tg::kFloat64) * 3.0; },
                           {x}, {.eps = 1e-2, .atol = 1e-3, .rtol = 1e-3});
    INFO(result.message);
    REQUIRE(result.ok);
  }
}

TEST_CASE("reshape is a view with the same row-major order, and -1 is inferred", "[ops][shape]") {
  Tensor x = tg::arange(6);
  Tensor y = tg::reshape(x, {2, 3});
  CHECK(allclose(y, Tensor{{0, 1, 2}, {3, 4, 5}}, 0, 0));
  CHECK(y.raw_data() == x.raw_data());
  CHECK(tg::reshape(x, {-1, 2}).shape() == Shape{3, 2});
  CHECK(tg::reshape(x, {3, -1}).shape() == Shape{3, 2});
  CHECK(tg::reshape(x, {1, -1, 1}).shape() == Shape{1, 6, 1});
  CHECK(tg::reshape(y, {-1}).shape() == Shape{6});
  CHECK(tg::reshape(tg::scalar(3), {-1}).shape() == Shape{1});
  CHECK(tg::reshape(tg::ones({1}), Shape{}).shape() == Shape{});
  CHECK(tg::reshape(tg::zeros({0, 3}), {-1, 6}).shape() == Shape{0, 6});
  CHECK(x.reshape({3, 2}).at({2, 1}) == 5);
}

TEST_CASE("transpose and permute move the elements", "[ops][shape]") {
  Tensor x{{1, 2, 3}, {4, 5, 6}};
  CHECK(allclose(tg::transpose(x, 0, 1), Tensor{{1, 4}, {2, 5}, {3, 6}}, 0, 0));
  CHECK(allclose(x.t(), Tensor{{1, 4}, {2, 5}, {3, 6}}, 0, 0));
  CHECK(allclose(tg::transpose(x, -1, -2), Tensor{{1, 4}, {2, 5}, {3, 6}}, 0, 0));
  CHECK(allclose(tg::transpose(x, 1, 1), x, 0, 0));
  CHECK(tg::transpose(tg::scalar(2), 0, 0).item() == 2);

  Tensor cube = tg::arange(24).reshape({2, 3, 4});
  Tensor p = tg::permute(cube, {2, 0, 1});
  REQUIRE(p.shape() == Shape{4, 2, 3});
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 3; ++j)
      for (std::int64_t k = 0; k < 4; ++k) CHECK(p.at({k, i, j}) == cube.at({i, j, k}));
  CHECK(allclose(tg::permute(cube, {-3, -2, -1}), cube, 0, 0));
  Tensor t = tg::transpose(cube, 0, 2);
  REQUIRE(t.shape() == Shape{4, 3, 2});
  CHECK(t.at({3, 1, 0}) == cube.at({0, 1, 3}));
}

TEST_CASE("the gradients of the shape ops move the seed back into place", "[ops][shape]") {
  Tensor x = tg::zeros({2, 3}, {.requires_grad = true});
  Tensor seed = tg::arange(6).reshape({3, 2});
  tg::reshape(x, {3, -1}).backward(seed);
  CHECK(allclose(x.grad(), Tensor{{0, 1, 2}, {3, 4, 5}}, 0, 0));

  x.set_grad(Tensor());
  x.t().backward(seed);  // dx = dy^T
  CHECK(allclose(x.grad(), Tensor{{0, 2, 4}, {1, 3, 5}}, 0, 0));

  Tensor cube = tg::zeros({2, 3, 4}, {.requires_grad = true});
  Tensor cube_seed = tg::arange(24).reshape({4, 2, 3});
  tg::permute(cube, {2, 0, 1}).backward(cube_seed);  // dx = permute(dy, inverse) = permute(dy, {1, 2, 0})
  CHECK(allclose(cube.grad(), tg::permute(cube_seed, {1, 2, 0}), 0, 0));
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 3; ++j)
      for (std::int64_t k = 0; k < 4; ++k) CHECK(cube.grad().at({i, j, k}) == cube_seed.at({k, i, j}));
}

TEST_CASE("Tensor::to converts values and returns the gradient in the source dtype", "[ops][shape][dtype]") {
  Tensor x = Tensor{1.5, -2, 1e-3}.requires_grad_();
  Tensor y = x.to(tg::kFloat64);
  REQUIRE(y.dtype() == tg::kFloat64);
  CHECK(y.tolist() == x.tolist());
  (y * tg::from_vector({1, 2, 3}, {3}, {.dtype = tg::kFloat64})).sum().backward();
  REQUIRE(x.grad().dtype() == tg::kFloat32);
  CHECK(allclose(x.grad(), Tensor{1, 2, 3}, 0, 0));

  Tensor d = tg::from_vector({0.1, 1.0 / 3}, {2}, {.dtype = tg::kFloat64});
  Tensor f = d.to(tg::kFloat32);
  CHECK(f.dtype() == tg::kFloat32);
  CHECK(f.at({1}) == static_cast<float>(1.0 / 3));
  // To the same dtype: the same tensor, nothing recorded.
  CHECK(x.to(tg::kFloat32).impl_ptr() == x.impl_ptr());
}

TEST_CASE("Tensor::clone copies the data and passes the gradient through", "[ops][shape]") {
  Tensor x = Tensor{1, 2, 3}.requires_grad_();
  Tensor c = x.clone();
  CHECK(c.raw_data() != x.raw_data());
  CHECK(allclose(c, x, 0, 0));
  (c * Tensor{4, 5, 6}).sum().backward();
  CHECK(allclose(x.grad(), Tensor{4, 5, 6}, 0, 0));

  Tensor plain = Tensor{1, 2};
  Tensor copy = plain.clone();
  copy.fill_(9);
  CHECK(allclose(plain, Tensor{1, 2}, 0, 0));
}

TEST_CASE("shape ops, to and clone record only when needed", "[ops][shape][tape]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor x = tg::ones({2, 3});
  CHECK_FALSE(tg::reshape(x, {3, 2}).requires_grad());
  CHECK_FALSE(tg::transpose(x, 0, 1).requires_grad());
  CHECK_FALSE(tg::permute(x, {1, 0}).requires_grad());
  CHECK_FALSE(x.to(tg::kFloat64).requires_grad());
  CHECK_FALSE(x.clone().requires_grad());
  CHECK(tape.size() == 0);
  x.requires_grad_();
  {
    tg::NoGradGuard no_grad;
    CHECK_FALSE(tg::reshape(x, {3, 2}).requires_grad());
    CHECK_FALSE(tg::transpose(x, 0, 1).requires_grad());
    CHECK_FALSE(tg::permute(x, {1, 0}).requires_grad());
    CHECK_FALSE(x.to(tg::kFloat64).requires_grad());
    CHECK_FALSE(x.clone().requires_grad());
    CHECK(tape.size() == 0);
  }
  std::size_t expected = 0;
  for (auto [name, y] : {std::pair{"reshape", tg::reshape(x, {6})}, std::pair{"permute", tg::transpose(x, 0, 1)},
                         std::pair{"to", x.to(tg::kFloat64)}, std::pair{"clone", x.clone()}}) {
    INFO(name);
    CHECK(y.requires_grad());
    CHECK(tg::test::op_name(expected++) == name);
  }
  CHECK(tape.size() == expected);
  CHECK(tg::reshape(x, {2, 3}).impl_ptr() == x.impl_ptr());  // same shape: x itself, no entry
  CHECK(tape.size() == expected);
  tape.clear();
}

TEST_CASE("reshape rejects sizes that do not fit, naming the shapes", "[ops][shape][errors]") {
  Tensor x = tg::ones({2, 3});
  CHECK_THROWS_MATCHES(tg::reshape(x, {4}), tg::ShapeError, MessageContains({"reshape", "[2, 3]", "[4]", "6", "4"}));
  CHECK_THROWS_MATCHES(tg::reshape(x, Shape{7}), tg::ShapeError, MessageContains({"reshape", "[2, 3]", "[7]"}));
  CHECK_THROWS_MATCHES(tg::reshape(x, {-1, -1}), tg::ShapeError, MessageContains({"reshape", "-1", "[-1, -1]"}));
  CHECK_THROWS_MATCHES(tg::reshape(x, {-1, 4}), tg::ShapeError, MessageContains({"reshape", "[2, 3]", "[-1, 4]"}));
  CHECK_THROWS_MATCHES(tg::reshape(x, {-1, 0}), tg::ShapeError, MessageContains({"reshape", "[2, 3]", "[-1, 0]"}));
  CHECK_THROWS_MATCHES(tg::reshape(x, {-2, -3}), tg::ShapeError, MessageContains({"reshape", "-2", "[-2, -3]"}));
}

TEST_CASE("transpose and permute reject bad dims", "[ops][shape][errors]") {
  Tensor x = tg::ones({2, 3, 4});
  CHECK_THROWS_MATCHES(tg::transpose(x, 0, 3), tg::ValueError, MessageContains({"transpose", "dim 3", "rank 3"}));
  CHECK_THROWS_MATCHES(tg::transpose(x, -4, 1), tg::ValueError, MessageContains({"transpose", "dim -4", "rank 3"}));
  CHECK_THROWS_MATCHES(tg::permute(x, {0, 1}), tg::ShapeError, MessageContains({"permute", "2 dims", "[2, 3, 4]"}));
  CHECK_THROWS_MATCHES(tg::permute(x, {0, 1, 2, 3}), tg::ShapeError,
                       MessageContains({"permute", "4 dims", "[2, 3, 4]"}));
  CHECK_THROWS_MATCHES(tg::permute(x, {0, 1, 1}), tg::ValueError,
                       MessageContains({"permute", "dim 1 appears twice", "[2, 3, 4]"}));
  CHECK_THROWS_MATCHES(tg::permute(x, {0, -1, 2}), tg::ValueError,
                       MessageContains({"permute", "dim 2 appears twice", "[2, 3, 4]"}));
  CHECK_THROWS_MATCHES(tg::permute(x, {0, 1, 3}), tg::ValueError, MessageContains({"permute", "dim 3", "rank 3"}));
}
