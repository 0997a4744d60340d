// SPDX-License-Identifier: MIT
// exp, log, relu, sigmoid, tanh (ops/unary.cpp): gradcheck on random shapes, closed-form
// derivatives, dtypes and recording.
#include <cmath>
#include <limits>

#include "framework/ops/op_test_util.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;

namespace {

using UnaryOp = Tensor (*)(const Tensor&);

struct NamedOp {
  const char* name;
  UnaryOp fn;
};

const NamedOp kUnaryOps[] = {
    {"exp", tg::exp}, {"log", tg::log}, {"relu", tg::relu}, {"sigmoid", tg::sigmoid}, {"tanh", tg::tanh}};

// Elementwise f over the values of x, in double precision: the reference for the forwards.
template <class F>
Tensor reference(const Tensor& x, F f) {
  std::vector<double> values = x.tolist();
  for (double& v : values) v = f(v);
  return tg::from_vector(values, x.shape(), {.dtype = x.dtype()});
}

}  // namespace

TEST_CASE("exp, log, relu, sigmoid and tanh pass gradcheck on random shapes", "[ops][unary][gradcheck]") {
  tg::Generator gen(21);
  for (int i = 0; i < 8; ++i) {
    Shape shape = tg::test::random_shape(gen, 0, 4);
    INFO("shape " << shape.str());
    // relu's kink at 0 and log's domain edge at 0 are kept at a distance.
    Tensor x = tg::test::away_from_zero(shape, gen, 0.1, 3);
    Tensor positive = tg::test::uniform(shape, gen, 0.2, 4);
    for (const NamedOp& op : kUnaryOps) {
      INFO(op.name);
      auto result = tg::gradcheck([&](const std::vector<Tensor>& v) { return op.fn(v[0]); },
                                  {std::string(op.name) == "log" ? positive : x});
      INFO(result.message);
      REQUIRE(result.ok);
    }
  }
}

TEST_CASE("a chain of unary ops passes gradcheck", "[ops][unary][gradcheck]") {
  tg::Generator gen(22);
  Tensor x = tg::test::away_from_zero({3, 4}, gen, 0.2, 2);
  auto result = tg::gradcheck(
      [](const std::vector<Tensor>& v) { return tg::log(tg::sigmoid(v[0]) + tg::exp(tg::tanh(v[0]))) * v[0]; }, {x});
  INFO(result.message);
  REQUIRE(result.ok);
}

TEST_CASE("the unary forwards match the C library", "[ops][unary]") {
  tg::Generator gen(23);
  Tensor x = tg::test::away_from_zero({4, 5}, gen, 0.01, 5);
  Tensor positive = tg::test::uniform({4, 5}, gen, 0.01, 10);
  CHECK(allclose(tg::exp(x), reference(x, [](double v) { return std::exp(v); }), 1e-12, 0));
  CHECK(allclose(tg::log(positive), reference(positive, [](double v) { return std::log(v); }), 1e-12, 1e-15));
  CHECK(allclose(tg::relu(x), reference(x, [](double v) { return v > 0 ? v : 0.0; }), 0, 0));
  CHECK(allclose(tg::sigmoid(x), reference(x, [](double v) { return 1 / (1 + std::exp(-v)); }), 1e-12, 1e-15));
  CHECK(allclose(tg::tanh(x), reference(x, [](double v) { return std::tanh(v); }), 1e-12, 1e-15));

  Tensor small{-1, 0, 1};
  CHECK(allclose(tg::exp(small), Tensor{std::exp(-1.0), 1, std::exp(1.0)}));
  CHECK(allclose(tg::relu(small), Tensor{0, 0, 1}, 0, 0));
  CHECK(allclose(tg::sigmoid(small), Tensor{1 / (1 + std::exp(1.0)), 0.5, 1 / (1 + std::exp(-1.0))}));
  CHECK(allclose(tg::tanh(small), Tensor{-std::tanh(1.0), 0, std::tanh(1.0)}));
  CHECK(allclose(tg::log(Tensor{1, std::exp(2.0)}), Tensor{0, 2}));
}

TEST_CASE("log follows IEEE at and below 0, as PyTorch does", "[ops][unary]") {
  Tensor y = tg::log(Tensor{0, -1});
  CHECK(std::isinf(y.at({0})));
  CHECK(y.at({0}) < 0);
  CHECK(std::isnan(y.at({1})));
}

TEST_CASE("closed-form derivatives of the unary ops", "[ops][unary]") {
  tg::Generator gen(24);
  Tensor values = tg::test::away_from_zero({3, 4}, gen, 0.1, 3);
  auto grad_of = [&](UnaryOp f, const Tensor& at) {
    Tensor x = at.detach().clone().requires_grad_();
    f(x).sum().backward();
    return x.grad();
  };

  // exp' = exp
  CHECK(allclose(grad_of(tg::exp, values), tg::exp(values), 1e-12, 0));
  // log' = 1 / x
  Tensor positive = tg::test::uniform({3, 4}, gen, 0.1, 5);
  CHECK(allclose(grad_of(tg::log, positive), 1.0 / positive, 1e-12, 0));
  // relu' = [x > 0]
  CHECK(allclose(grad_of(tg::relu, values), reference(values, [](double v) { return v > 0 ? 1.0 : 0.0; }), 0, 0));
  // sigmoid' = s (1 - s)
  Tensor s = tg::sigmoid(values);
  CHECK(allclose(grad_of(tg::sigmoid, values), s * (1.0 - s), 1e-12, 1e-15));
  // tanh' = 1 - t^2
  Tensor t = tg::tanh(values);
  CHECK(allclose(grad_of(tg::tanh, values), 1.0 - t * t, 1e-12, 1e-15));

  // Exact values at small points.
  Tensor points{0, 1, 2};
  CHECK(allclose(grad_of(tg::exp, points), Tensor{1, std::exp(1.0), std::exp(2.0)}));
  CHECK(allclose(grad_of(tg::log, Tensor{0.5, 1, 2}), Tensor{2, 1, 0.5}));
  CHECK(grad_of(tg::sigmoid, tg::scalar(0)).item() == 0.25f);
  CHECK(grad_of(tg::tanh, tg::scalar(0)).item() == 1.0f);
}

namespace {

// d2/dx2 of an elementwise f at each element: the gradient of sum(f'(x)), f'(x) from a backward
// with create_graph (the Hessian of sum(f(x)) is diagonal). A first derivative without a graph
// (relu's, which does not depend on x) has second derivative 0.
Tensor second_derivative(UnaryOp f, const Tensor& at) {
  Tensor x = at.detach().clone().requires_grad_();
  Tensor d1 = tg::grad({f(x).sum()}, {x}, {.create_graph = true})[0];
  if (!d1.requires_grad()) return tg::zeros_like(at);
  return tg::grad({d1.sum()}, {x}, {.allow_unused = true, .materialize_grads = true})[0];
}

}  // namespace

TEST_CASE("closed-form second derivatives of the unary ops, through create_graph", "[ops][unary][higher_order]") {
  tg::Generator gen(25);
  Tensor values = tg::test::away_from_zero({3, 4}, gen, 0.1, 2);
  // exp'' = exp
  CHECK(allclose(second_derivative(tg::exp, values), tg::exp(values), 1e-12, 0));
  // log'' = -1 / x^2
  Tensor positive = tg::test::uniform({3, 4}, gen, 0.1, 5);
  CHECK(allclose(second_derivative(tg::log, positive), -1.0 / (positive * positive), 1e-12, 0));
  // sigmoid'' = s (1 - s) (1 - 2 s)
  Tensor s = tg::sigmoid(values);
  CHECK(allclose(second_derivative(tg::sigmoid, values), s * (1.0 - s) * (1.0 - 2.0 * s), 1e-10, 1e-15));
  // tanh'' = -2 t (1 - t^2)
  Tensor t = tg::tanh(values);
  CHECK(allclose(second_derivative(tg::tanh, values), -2.0 * t * (1.0 - t * t), 1e-10, 1e-15));
  // relu'' = 0 (as PyTorch), while its first derivative stays a function of the seed
  CHECK(allclose(second_derivative(tg::relu, values), tg::zeros_like(values), 0, 0));
  Tensor x = values.detach().clone().requires_grad_();
  Tensor seed = tg::ones_like(values).requires_grad_();
  Tensor dx = tg::grad({tg::relu(x)}, {x}, {.grad_outputs = {seed}, .create_graph = true})[0];
  Tensor dseed = tg::grad({dx.sum()}, {seed})[0];  // d(dx)/d(seed) = [x > 0]
  CHECK(allclose(dseed, reference(values, [](double v) { return v > 0 ? 1.0 : 0.0; }), 0, 0));
}

TEST_CASE("the first-order gradients of the unary ops are the same with and without create_graph",
          "[ops][unary][higher_order]") {
  tg::Generator gen(26);
  Tensor values = tg::test::away_from_zero({4, 5}, gen, 0.1, 2);
  for (const NamedOp& op : kUnaryOps) {
    INFO(op.name);
    Tensor at = std::string(op.name) == "log" ? tg::abs(values) : values;
    Tensor x = at.detach().clone().requires_grad_();
    Tensor plain = tg::grad({op.fn(x).sum()}, {x})[0];
    Tensor recorded = tg::grad({op.fn(x).sum()}, {x}, {.create_graph = true})[0];
    CHECK_FALSE(plain.requires_grad());
    // The same formula, as a fused kernel or as recorded ops (which may round differently)
    CHECK(allclose(plain, recorded.detach(), 1e-14, 0));
  }
}

TEST_CASE("relu takes the subgradient 0 at 0 and passes dy through where x > 0", "[ops][unary]") {
  Tensor x = Tensor{-2, -1e-3, 0, 1e-3, 5}.requires_grad_();
  tg::relu(x).backward(Tensor{10, 20, 30, 40, 50});
  CHECK(allclose(x.grad(), Tensor{0, 0, 0, 40, 50}, 0, 0));
}

TEST_CASE("unary ops keep the dtype and scale the incoming gradient", "[ops][unary][dtype]") {
  for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64}) {
    for (const NamedOp& op : kUnaryOps) {
      INFO(op.name << " " << tg::dtype_name(dtype));
      Tensor x = tg::full({2, 3}, 0.5, {.dtype = dtype, .requires_grad = true});
      Tensor y = op.fn(x);
      CHECK(y.dtype() == dtype);
      CHECK(y.shape() == Shape{2, 3});
      y.backward(tg::full({2, 3}, 2, {.dtype = dtype}));
      REQUIRE(x.grad().dtype() == dtype);
      // With dy = 2 the gradient is twice the derivative computed alone.
      Tensor once = x.detach().clone().requires_grad_();
      op.fn(once).sum().backward();
      CHECK(allclose(x.grad(), 2.0 * once.grad()));
    }
  }
}

TEST_CASE("unary ops record only when the input requires grad and grad mode is on", "[ops][unary][tape]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor x = tg::full({4}, 0.5);
  for (const NamedOp& op : kUnaryOps) {
    INFO(op.name);
    CHECK_FALSE(op.fn(x).requires_grad());
    CHECK(tape.size() == 0);
  }
  x.requires_grad_();
  {
    tg::NoGradGuard no_grad;
    for (const NamedOp& op : kUnaryOps) CHECK_FALSE(op.fn(x).requires_grad());
    CHECK(tape.size() == 0);
  }
  for (const NamedOp& op : kUnaryOps) {
    INFO(op.name);
    Tensor y = op.fn(x);
    CHECK(y.requires_grad());
    REQUIRE(tape.size() == 1);
    CHECK(tg::test::op_name() == op.name);
    tape.clear();
  }
}

TEST_CASE("unary ops refuse an undefined tensor", "[ops][unary][errors]") {
  for (const NamedOp& op : kUnaryOps) {
    INFO(op.name);
    CHECK_THROWS_MATCHES(op.fn(Tensor()), tg::ValueError, tg::test::MessageContains({"undefined"}));
  }
}
