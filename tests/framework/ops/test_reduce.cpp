// SPDX-License-Identifier: MIT
// sum and mean, over all elements, along a dim, with and without keepdim (ops/reduce.cpp).
#include <cmath>

#include "framework/ops/op_test_util.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::column;
using tg::test::MessageContains;

TEST_CASE("sum and mean over all elements pass gradcheck on random shapes", "[ops][reduce][gradcheck]") {
  tg::Generator gen(31);
  for (int i = 0; i < 8; ++i) {
    Shape shape = tg::test::random_shape(gen, 0, 4);
    INFO("shape " << shape.str());
    Tensor x = tg::test::uniform(shape, gen, -2, 2);
    auto result = tg::gradcheck([](const std::vector<Tensor>& v) { return tg::sum(v[0]); }, {x});
    INFO(result.message);
    REQUIRE(result.ok);
    result = tg::gradcheck([](const std::vector<Tensor>& v) { return tg::mean(v[0]); }, {x});
    INFO(result.message);
    REQUIRE(result.ok);
  }
}

TEST_CASE("sum and mean along every dim, with and without keepdim, pass gradcheck", "[ops][reduce][gradcheck]") {
  tg::Generator gen(32);
  for (int i = 0; i < 8; ++i) {
    Shape shape = tg::test::random_shape(gen, 1, 4);
    Tensor x = tg::test::uniform(shape, gen, -2, 2);
    for (int dim = -shape.rank(); dim < shape.rank(); ++dim) {
      for (bool keepdim : {false, true}) {
        INFO("shape " << shape.str() << " dim " << dim << " keepdim " << keepdim);
        auto result = tg::gradcheck([&](const std::vector<Tensor>& v) { return tg::sum(v[0], dim, keepdim); }, {x});
        INFO(result.message);
        REQUIRE(result.ok);
        result = tg::gradcheck([&](const std::vector<Tensor>& v) { return tg::mean(v[0], dim, keepdim); }, {x});
        INFO(result.message);
        REQUIRE(result.ok);
      }
    }
  }
}

TEST_CASE("reductions of a 0-d tensor pass gradcheck", "[ops][reduce][gradcheck]") {
  Tensor x = tg::scalar(1.5, {.dtype = tg::kFloat64});
  for (int dim : {0, -1}) {
    for (bool keepdim : {false, true}) {
      INFO("dim " << dim << " keepdim " << keepdim);
      auto result = tg::gradcheck([&](const std::vector<Tensor>& v) { return tg::sum(v[0], dim, keepdim); }, {x});
      INFO(result.message);
      REQUIRE(result.ok);
      result = tg::gradcheck([&](const std::vector<Tensor>& v) { return tg::mean(v[0], dim, keepdim); }, {x});
      INFO(result.message);
      REQUIRE(result.ok);
    }
  }
}

TEST_CASE("the forward values and shapes of sum and mean", "[ops][reduce]") {
  Tensor x{{1, 2, 3}, {4, 5, 6}};
  CHECK(tg::sum(x).shape() == Shape{});
  CHECK(tg::sum(x).item() == 21);
  CHECK(tg::mean(x).item() == 3.5);
  CHECK(allclose(tg::sum(x, 0), Tensor{5, 7, 9}, 0, 0));
  CHECK(allclose(tg::sum(x, 1), Tensor{6, 15}, 0, 0));
  CHECK(allclose(tg::sum(x, -1, true), column({6, 15}), 0, 0));
  CHECK(allclose(tg::sum(x, 0, true), Tensor{{5, 7, 9}}, 0, 0));
  CHECK(allclose(tg::mean(x, 0), Tensor{2.5, 3.5, 4.5}, 0, 0));
  CHECK(allclose(tg::mean(x, 1, true), column({2, 5}), 0, 0));
  CHECK(allclose(x.sum(-2), Tensor{5, 7, 9}, 0, 0));

  // The middle dim of a 3-d tensor: [2, 3, 4] -> [2, 4] or [2, 1, 4].
  Tensor cube = tg::arange(24).reshape({2, 3, 4});
  Tensor middle = tg::sum(cube, 1);
  REQUIRE(middle.shape() == Shape{2, 4});
  CHECK(allclose(middle, Tensor{{12, 15, 18, 21}, {48, 51, 54, 57}}, 0, 0));
  CHECK(tg::mean(cube, 1, true).shape() == Shape{2, 1, 4});
  CHECK(tg::mean(cube, 1, true).at({1, 0, 3}) == 19);

  CHECK(tg::sum(tg::scalar(7), 0).shape() == Shape{});
  CHECK(tg::sum(tg::scalar(7), 0).item() == 7);
  CHECK(tg::mean(tg::scalar(7), -1, true).item() == 7);
}

TEST_CASE("reductions of empty tensors follow PyTorch", "[ops][reduce]") {
  CHECK(tg::sum(tg::zeros({0, 3})).item() == 0);
  CHECK(std::isnan(tg::mean(tg::zeros({0})).item()));
  Tensor rows = tg::sum(tg::ones({2, 0, 3}), 1);
  REQUIRE(rows.shape() == Shape{2, 3});
  CHECK(allclose(rows, tg::zeros({2, 3}), 0, 0));
  CHECK(tg::sum(tg::ones({0, 3}), 1).shape() == Shape{0});
  CHECK(std::isnan(tg::mean(tg::ones({2, 0}), 1).at({0})));
}

TEST_CASE("the gradient of sum is ones and the gradient of mean is 1/n", "[ops][reduce]") {
  tg::Generator gen(33);
  Tensor x = tg::test::uniform({3, 4, 2}, gen, -1, 1).requires_grad_();
  tg::sum(x).backward();
  CHECK(allclose(x.grad(), tg::ones({3, 4, 2}, {.dtype = tg::kFloat64}), 0, 0));

  x.set_grad(Tensor());
  tg::mean(x).backward();
  CHECK(allclose(x.grad(), tg::full({3, 4, 2}, 1.0 / 24, {.dtype = tg::kFloat64}), 1e-15, 0));

  // A seed that is not 1 scales the gradient.
  x.set_grad(Tensor());
  tg::sum(x).backward(tg::scalar(-3, {.dtype = tg::kFloat64}));
  CHECK(allclose(x.grad(), tg::full({3, 4, 2}, -3, {.dtype = tg::kFloat64}), 0, 0));
}

TEST_CASE("the gradient along a dim spreads each output gradient over its slice", "[ops][reduce]") {
  Tensor x = tg::zeros({2, 3}, {.requires_grad = true});
  tg::sum(x, 1).backward(Tensor{1, 2});
  CHECK(allclose(x.grad(), Tensor{{1, 1, 1}, {2, 2, 2}}, 0, 0));

  x.set_grad(Tensor());
  tg::sum(x, 0, true).backward(Tensor{{1, 2, 3}});
  CHECK(allclose(x.grad(), Tensor{{1, 2, 3}, {1, 2, 3}}, 0, 0));

  x.set_grad(Tensor());
  tg::mean(x, 0).backward(Tensor{2, 4, 6});
  CHECK(allclose(x.grad(), Tensor{{1, 2, 3}, {1, 2, 3}}, 0, 0));

  x.set_grad(Tensor());
  tg::mean(x, -1, true).backward(column({3, 6}));
  CHECK(allclose(x.grad(), Tensor{{1, 1, 1}, {2, 2, 2}}, 0, 0));

  Tensor cube = tg::zeros({2, 3, 4}, {.requires_grad = true});
  Tensor seed = tg::arange(8).reshape({2, 4});
  tg::sum(cube, 1).backward(seed);
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 3; ++j)
      for (std::int64_t k = 0; k < 4; ++k) CHECK(cube.grad().at({i, j, k}) == seed.at({i, k}));
}

TEST_CASE("reductions keep the dtype, and their gradients too", "[ops][reduce][dtype]") {
  for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64}) {
    INFO(tg::dtype_name(dtype));
    Tensor x = tg::ones({2, 3}, {.dtype = dtype, .requires_grad = true});
    CHECK(tg::sum(x).dtype() == dtype);
    CHECK(tg::sum(x, 1).dtype() == dtype);
    CHECK(tg::mean(x).dtype() == dtype);
    Tensor y = tg::mean(x, 0, true);
    CHECK(y.dtype() == dtype);
    y.sum().backward();
    CHECK(x.grad().dtype() == dtype);
    CHECK(allclose(x.grad(), tg::full({2, 3}, 0.5), 0, 0));
  }
}

TEST_CASE("reductions record only when the input requires grad and grad mode is on", "[ops][reduce][tape]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor x = tg::ones({2, 3});
  Tensor a = tg::sum(x), b = tg::sum(x, 1), c = tg::mean(x), d = tg::mean(x, 0, true);
  CHECK(tape.size() == 0);
  CHECK_FALSE((a.requires_grad() || b.requires_grad() || c.requires_grad() || d.requires_grad()));
  x.requires_grad_();
  {
    tg::NoGradGuard no_grad;
    Tensor e = tg::sum(x), f = tg::sum(x, 1), g = tg::mean(x), h = tg::mean(x, 0, true);
    CHECK(tape.size() == 0);
    CHECK_FALSE((e.requires_grad() || f.requires_grad() || g.requires_grad() || h.requires_grad()));
  }
  Tensor s = tg::sum(x, 0);
  CHECK(tape.size() == 1);
  CHECK(tg::test::op_name() == "sum");
  Tensor m = tg::mean(x);
  CHECK(tape.size() == 2);
  CHECK(tg::test::op_name() == "mean");
  CHECK((s.requires_grad() && m.requires_grad()));
  tape.clear();
}

TEST_CASE("reductions reject dims out of range, naming the op, the dim and the rank", "[ops][reduce][errors]") {
  Tensor x = tg::ones({2, 3});
  CHECK_THROWS_MATCHES(tg::sum(x, 2), tg::ValueError, MessageContains({"sum", "dim 2", "rank 2"}));
  CHECK_THROWS_MATCHES(tg::sum(x, -3, true), tg::ValueError, MessageContains({"sum", "dim -3", "rank 2"}));
  CHECK_THROWS_MATCHES(tg::mean(x, 5), tg::ValueError, MessageContains({"mean", "dim 5", "rank 2"}));
  CHECK_THROWS_MATCHES(tg::mean(x, -3, true), tg::ValueError, MessageContains({"mean", "dim -3", "rank 2"}));
  CHECK_THROWS_MATCHES(tg::sum(tg::scalar(1), 1), tg::ValueError, MessageContains({"sum", "dim 1", "rank 0"}));
}

TEST_CASE("the Hessians of prod and var in closed form, through create_graph", "[ops][reduce][higher_order]") {
  auto hessian = [](auto f, const Tensor& at) {  // [n, n], row i the gradient of df/dx_i
    Tensor x = at.detach().clone().requires_grad_();
    Tensor g = tg::grad({f(x)}, {x}, {.create_graph = true})[0];
    std::vector<Tensor> rows;
    for (std::int64_t i = 0; i < at.numel(); ++i)
      rows.push_back(tg::grad({tg::select(g, 0, i)}, {x},
                              {.retain_graph = true, .allow_unused = true, .materialize_grads = true})[0]);
    return tg::stack(rows);
  };
  // d2 prod / dx_i dx_j = prod_{l != i, j} x_l off the diagonal, 0 on it; zeros included
  for (const std::vector<double>& v :
       {std::vector<double>{2, 3, 0.5, -1}, std::vector<double>{2, 0, 3, 4}, std::vector<double>{0, 2, 0, 5}}) {
    Tensor x = tg::from_vector(v, {4}, {.dtype = tg::kFloat64});
    Tensor want = tg::zeros({4, 4}, {.dtype = tg::kFloat64});
    for (std::int64_t i = 0; i < 4; ++i)
      for (std::int64_t j = 0; j < 4; ++j) {
        if (i == j) continue;
        double p = 1;
        for (std::int64_t l = 0; l < 4; ++l)
          if (l != i && l != j) p *= v[static_cast<std::size_t>(l)];
        want.at<double>({i, j}) = p;
      }
    CHECK(allclose(hessian([](const Tensor& t) { return tg::prod(t); }, x), want, 1e-12, 0));
    CHECK(allclose(hessian([](const Tensor& t) { return tg::prod(t, 0); }, x), want, 1e-12, 0));
  }
  // var (unbiased) of n elements: 2 (I - 1/n) / (n - 1)
  Tensor x = tg::from_vector(std::vector<double>{1, -2, 0.5, 4}, {4}, {.dtype = tg::kFloat64});
  Tensor eye = tg::zeros({4, 4}, {.dtype = tg::kFloat64});
  for (std::int64_t i = 0; i < 4; ++i) eye.at<double>({i, i}) = 1;
  CHECK(allclose(hessian([](const Tensor& t) { return tg::var(t); }, x), (eye - 0.25) * (2.0 / 3), 1e-12, 1e-15));
  CHECK(allclose(hessian([](const Tensor& t) { return tg::var(t, 0); }, x), (eye - 0.25) * (2.0 / 3), 1e-12, 1e-15));
}
