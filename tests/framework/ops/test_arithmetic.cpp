// SPDX-License-Identifier: MIT
// add, sub, mul, div, neg, pow, square (ops/arithmetic.cpp): gradcheck on random and
// broadcast shapes, closed-form gradients, dtype promotion, recording and errors.
#include <cmath>
#include <utility>

#include "framework/ops/op_test_util.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::column;
using tg::test::MessageContains;

namespace {

using BinaryOp = Tensor (*)(const Tensor&, const Tensor&);

struct NamedOp {
  const char* name;
  BinaryOp fn;
};

const NamedOp kBinaryOps[] = {{"add", tg::add}, {"sub", tg::sub}, {"mul", tg::mul}, {"div", tg::div}};

// Shape pairs that broadcast: the classic cases both ways round, then random ones.
std::vector<std::pair<Shape, Shape>> broadcast_pairs(tg::Generator& gen) {
  std::vector<std::pair<Shape, Shape>> pairs = {{{3, 1}, {1, 4}},    {{4}, {2, 3, 4}}, {{2, 3, 4}, {4}},
                                                {{}, {2, 3}},        {{2, 3}, {}},     {{}, {}},
                                                {{2, 1, 3}, {4, 1}}, {{1}, {5}},       {{5}, {1}}};
  for (int i = 0; i < 6; ++i) {
    Shape s = tg::test::random_shape(gen, 0, 4);
    pairs.emplace_back(s, s);
    pairs.emplace_back(s, tg::test::broadcast_partner(gen, s));
    pairs.emplace_back(tg::test::broadcast_partner(gen, s), s);
  }
  return pairs;
}

}  // namespace

TEST_CASE("add, sub, mul and div pass gradcheck on random and broadcast shapes", "[ops][arithmetic][gradcheck]") {
  tg::Generator gen(11);
  for (const NamedOp& op : kBinaryOps) {
    for (const auto& [sa, sb] : broadcast_pairs(gen)) {
      INFO(op.name << " " << sa.str() << " x " << sb.str());
      Tensor a = tg::test::uniform(sa, gen, -2, 2);
      // div's denominator stays away from its pole at 0.
      Tensor b = tg::test::away_from_zero(sb, gen, 0.5, 2);
      auto result = tg::gradcheck([&](const std::vector<Tensor>& x) { return op.fn(x[0], x[1]); }, {a, b});
      INFO(result.message);
      REQUIRE(result.ok);
    }
  }
}

TEST_CASE("gradcheck of a binary op checks only the input that requires grad", "[ops][arithmetic][gradcheck]") {
  tg::Generator gen(12);
  Tensor a = tg::test::uniform({3, 1}, gen, -2, 2);
  Tensor b = tg::test::away_from_zero({1, 4}, gen, 0.5, 2).requires_grad_();
  for (const NamedOp& op : kBinaryOps) {
    INFO(op.name);
    auto result = tg::gradcheck([&](const std::vector<Tensor>& x) { return op.fn(x[0], x[1]); }, {a, b});
    INFO(result.message);
    REQUIRE(result.ok);
  }
}

TEST_CASE("neg, square and pow pass gradcheck on random shapes", "[ops][arithmetic][gradcheck]") {
  tg::Generator gen(13);
  for (int i = 0; i < 8; ++i) {
    Shape shape = tg::test::random_shape(gen, 0, 4);
    INFO("shape " << shape.str());
    Tensor x = tg::test::away_from_zero(shape, gen, 0.3, 2);
    Tensor positive = tg::test::uniform(shape, gen, 0.3, 3);
    auto check = [](const char* what, auto f, const Tensor& input) {
      INFO(what);
      auto result = tg::gradcheck([&](const std::vector<Tensor>& v) { return f(v[0]); }, {input});
      INFO(result.message);
      REQUIRE(result.ok);
    };
    check(
        "neg", [](const Tensor& v) { return tg::neg(v); }, x);
    check(
        "square", [](const Tensor& v) { return tg::square(v); }, x);
    check(
        "pow 2", [](const Tensor& v) { return tg::pow(v, 2); }, x);
    check(
        "pow 3", [](const Tensor& v) { return tg::pow(v, 3); }, x);
    check(
        "pow 1", [](const Tensor& v) { return tg::pow(v, 1); }, x);
    check(
        "pow 0", [](const Tensor& v) { return tg::pow(v, 0); }, x);
    check(
        "pow -2", [](const Tensor& v) { return tg::pow(v, -2); }, x);
    check(
        "pow 0.5", [](const Tensor& v) { return tg::pow(v, 0.5); }, positive);
    check(
        "pow -1.5", [](const Tensor& v) { return tg::pow(v, -1.5); }, positive);
  }
}

TEST_CASE("the forward values of the arithmetic ops", "[ops][arithmetic]") {
  Tensor a{{1, 2, 3}, {4, 5, 6}}, col = column({10, 20}), row{2, 4, 8};
  CHECK(allclose(a + col, Tensor{{11, 12, 13}, {24, 25, 26}}, 0, 0));
  CHECK(allclose(a - row, Tensor{{-1, -2, -5}, {2, 1, -2}}, 0, 0));
  CHECK(allclose(a * col, Tensor{{10, 20, 30}, {80, 100, 120}}, 0, 0));
  CHECK(allclose(a / row, Tensor{{0.5, 0.5, 0.375}, {2, 1.25, 0.75}}, 0, 0));
  CHECK(allclose(-a, Tensor{{-1, -2, -3}, {-4, -5, -6}}, 0, 0));
  CHECK(allclose(tg::square(row), Tensor{4, 16, 64}, 0, 0));
  CHECK(allclose(tg::pow(row, 0.5), Tensor{std::sqrt(2.0), 2, std::sqrt(8.0)}));
  CHECK(allclose(tg::pow(row, -1), Tensor{0.5, 0.25, 0.125}));
  CHECK(allclose(tg::pow(Tensor{0, 3}, 0), Tensor{1, 1}, 0, 0));
  // [3, 1] with [1, 4] gives the [3, 4] outer sum.
  Tensor outer = column({1, 2, 3}) + Tensor{{10, 20, 30, 40}};
  REQUIRE(outer.shape() == Shape{3, 4});
  CHECK(outer.at({2, 3}) == 43);
  CHECK(outer.at({0, 1}) == 21);
}

TEST_CASE("numbers next to a tensor act as 0-d tensors of its dtype", "[ops][arithmetic]") {
  Tensor x{1, 2, 4};
  CHECK(allclose(x + 1.0, Tensor{2, 3, 5}, 0, 0));
  CHECK(allclose(1.0 + x, Tensor{2, 3, 5}, 0, 0));
  CHECK(allclose(x - 1.0, Tensor{0, 1, 3}, 0, 0));
  CHECK(allclose(1.0 - x, Tensor{0, -1, -3}, 0, 0));
  CHECK(allclose(x * 3.0, Tensor{3, 6, 12}, 0, 0));
  CHECK(allclose(3.0 * x, Tensor{3, 6, 12}, 0, 0));
  CHECK(allclose(x / 2.0, Tensor{0.5, 1, 2}, 0, 0));
  CHECK(allclose(8.0 / x, Tensor{8, 4, 2}, 0, 0));
  CHECK((x * 3.0).dtype() == tg::kFloat32);
  CHECK((2.0 / x.to(tg::kFloat64)).dtype() == tg::kFloat64);

  Tensor w = Tensor{1, 2, 4}.requires_grad_();
  (8.0 / w - 3.0 * w).sum().backward();
  // d/dw (8/w - 3w) = -8/w^2 - 3
  CHECK(allclose(w.grad(), Tensor{-11, -5, -3.5}));
}

TEST_CASE("closed-form gradients of add and sub, summed over broadcast dims", "[ops][arithmetic]") {
  Tensor a = tg::zeros({3, 1}, {.requires_grad = true});
  Tensor b = tg::zeros({1, 4}, {.requires_grad = true});
  tg::add(a, b).sum().backward();
  // Each element of a meets the 4 columns of b, each element of b the 3 rows of a.
  CHECK(allclose(a.grad(), tg::full({3, 1}, 4), 0, 0));
  CHECK(allclose(b.grad(), tg::full({1, 4}, 3), 0, 0));

  Tensor c = tg::zeros({4}, {.requires_grad = true});
  Tensor d = tg::zeros({2, 3, 4}, {.requires_grad = true});
  Tensor seed = tg::arange(24).reshape({2, 3, 4});
  tg::sub(c, d).backward(seed);
  // dc = sum of the seed over the two leading dims; dd = -seed.
  CHECK(allclose(c.grad(), Tensor{60, 66, 72, 78}, 0, 0));
  CHECK(allclose(d.grad(), -seed, 0, 0));

  Tensor s = tg::scalar(0, {.requires_grad = true});
  Tensor m = tg::zeros({2, 3}, {.requires_grad = true});
  tg::sub(s, m).sum().backward();
  REQUIRE(s.grad().shape() == Shape{});
  CHECK(s.grad().item() == 6);
  CHECK(allclose(m.grad(), tg::full({2, 3}, -1), 0, 0));
}

TEST_CASE("closed-form gradients of mul and div", "[ops][arithmetic]") {
  Tensor a = column({1, 2, 3}).requires_grad_();
  Tensor b = Tensor{{10, 20}}.requires_grad_();
  tg::mul(a, b).sum().backward();
  // da_i = sum_j b_j = 30, db_j = sum_i a_i = 6
  CHECK(allclose(a.grad(), column({30, 30, 30}), 0, 0));
  CHECK(allclose(b.grad(), Tensor{{6, 6}}, 0, 0));

  Tensor u = Tensor{6, -1, 2}.requires_grad_();
  Tensor v = Tensor{3, 4, -0.5}.requires_grad_();
  tg::div(u, v).sum().backward();
  // du = 1 / v, dv = -u / v^2
  CHECK(allclose(u.grad(), Tensor{1.0 / 3, 0.25, -2}));
  CHECK(allclose(v.grad(), Tensor{-6.0 / 9, 1.0 / 16, -8}));

  // x used twice in one op: both contributions add up, d(x*x) = 2x.
  Tensor x = Tensor{-1.5, 0, 2}.requires_grad_();
  tg::mul(x, x).sum().backward();
  CHECK(allclose(x.grad(), Tensor{-3, 0, 4}, 0, 0));
}

TEST_CASE("closed-form gradients of neg, square and pow", "[ops][arithmetic]") {
  Tensor x = Tensor{-2, -0.5, 0, 1, 3}.requires_grad_();
  tg::neg(x).sum().backward();
  CHECK(allclose(x.grad(), tg::full({5}, -1), 0, 0));

  x.set_grad(Tensor());
  tg::square(x).sum().backward();
  CHECK(allclose(x.grad(), 2.0 * x.detach(), 0, 0));  // d/dx x^2 = 2x

  x.set_grad(Tensor());
  tg::pow(x, 3).sum().backward();
  CHECK(allclose(x.grad(), Tensor{12, 0.75, 0, 3, 27}));  // 3x^2

  x.set_grad(Tensor());
  tg::pow(x, 0).sum().backward();
  CHECK(allclose(x.grad(), tg::zeros({5}), 0, 0));  // 0 everywhere, also at x = 0 (no NaN)

  Tensor p = Tensor{0.25, 1, 4}.requires_grad_();
  tg::pow(p, 0.5).sum().backward();
  CHECK(allclose(p.grad(), Tensor{1, 0.5, 0.25}));  // 1 / (2 sqrt(x))

  p.set_grad(Tensor());
  tg::pow(p, -1).sum().backward();
  CHECK(allclose(p.grad(), Tensor{-16, -1, -0.0625}));  // -1 / x^2
}

TEST_CASE("mixed dtypes promote to float64, except next to a 0-d tensor", "[ops][arithmetic][dtype]") {
  Tensor f32 = tg::ones({2, 3});
  Tensor f64 = tg::ones({2, 3}, {.dtype = tg::kFloat64});
  Tensor s32 = tg::scalar(2);
  Tensor s64 = tg::scalar(2, {.dtype = tg::kFloat64});
  for (const NamedOp& op : kBinaryOps) {
    INFO(op.name);
    CHECK(op.fn(f32, f32).dtype() == tg::kFloat32);
    CHECK(op.fn(f32, f64).dtype() == tg::kFloat64);
    CHECK(op.fn(f64, f32).dtype() == tg::kFloat64);
    CHECK(op.fn(f32, tg::ones({3}, {.dtype = tg::kFloat64})).dtype() == tg::kFloat64);
    CHECK(op.fn(s64, f32).dtype() == tg::kFloat32);
    CHECK(op.fn(f32, s64).dtype() == tg::kFloat32);
    CHECK(op.fn(s32, f64).dtype() == tg::kFloat64);
    CHECK(op.fn(s32, s64).dtype() == tg::kFloat64);
  }
  CHECK(allclose(tg::mul(s64, f32), tg::full({2, 3}, 2), 0, 0));
  CHECK(tg::neg(f64).dtype() == tg::kFloat64);
  CHECK(tg::pow(f64, 2).dtype() == tg::kFloat64);
  CHECK(tg::square(f32).dtype() == tg::kFloat32);
}

TEST_CASE("each input's gradient has that input's dtype", "[ops][arithmetic][dtype]") {
  Tensor a = tg::full({2, 3}, 3, {.requires_grad = true});
  Tensor b = tg::full({3}, 2, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor y = tg::div(a, b);
  REQUIRE(y.dtype() == tg::kFloat64);
  y.sum().backward();
  REQUIRE(a.grad().dtype() == tg::kFloat32);
  REQUIRE(b.grad().dtype() == tg::kFloat64);
  CHECK(allclose(a.grad(), tg::full({2, 3}, 0.5), 0, 0));
  CHECK(allclose(b.grad(), tg::full({3}, -1.5), 0, 0));  // two rows of -3 / 4

  Tensor s = tg::scalar(4, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor m = tg::full({2, 2}, 0.5, {.requires_grad = true});
  Tensor z = tg::mul(s, m);
  REQUIRE(z.dtype() == tg::kFloat32);
  z.sum().backward();
  CHECK(s.grad().dtype() == tg::kFloat64);
  CHECK(s.grad().item<double>() == 2.0);
  CHECK(allclose(m.grad(), tg::full({2, 2}, 4), 0, 0));
}

TEST_CASE("arithmetic ops record only when an input requires grad and grad mode is on", "[ops][arithmetic][tape]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor a = tg::ones({2, 3}), b = tg::ones({3});
  std::size_t before = tape.size();
  Tensor y = tg::pow(tg::square(tg::neg(tg::div(tg::mul(tg::sub(tg::add(a, b), b), a), b))), 3);
  CHECK(tape.size() == before);
  CHECK_FALSE(y.requires_grad());

  a.requires_grad_();
  {
    tg::NoGradGuard no_grad;
    Tensor z = tg::pow(tg::square(tg::neg(tg::div(tg::mul(tg::sub(tg::add(a, b), b), a), b))), 3);
    CHECK(tape.size() == before);
    CHECK_FALSE(z.requires_grad());
    CHECK(z.is_leaf());
  }

  for (const NamedOp& op : kBinaryOps) {
    INFO(op.name);
    Tensor r = op.fn(b, a);
    CHECK(r.requires_grad());
    CHECK_FALSE(r.is_leaf());
    REQUIRE(tape.size() == before + 1);
    CHECK(tg::test::op_name() == op.name);
    tape.clear();
  }
}

TEST_CASE("binary ops send gradients only to the inputs that require grad", "[ops][arithmetic][tape]") {
  for (const NamedOp& op : kBinaryOps) {
    INFO(op.name);
    Tensor a = tg::full({2, 3}, 2, {.requires_grad = true});
    Tensor b = tg::full({3}, 4);
    op.fn(a, b).sum().backward();
    CHECK(a.grad().defined());
    CHECK_FALSE(b.grad().defined());

    Tensor c = tg::full({2, 3}, 2);
    Tensor d = tg::full({3}, 4, {.requires_grad = true});
    op.fn(c, d).sum().backward();
    CHECK_FALSE(c.grad().defined());
    REQUIRE(d.grad().defined());
    CHECK(d.grad().shape() == Shape{3});
  }
}

TEST_CASE("binary ops reject shapes that do not broadcast, naming the op and both shapes",
          "[ops][arithmetic][errors]") {
  Tensor a = tg::ones({2, 3}), b = tg::ones({4});
  for (const NamedOp& op : kBinaryOps) {
    INFO(op.name);
    CHECK_THROWS_MATCHES(op.fn(a, b), tg::ShapeError, MessageContains({op.name, "[2, 3]", "[4]"}));
    CHECK_THROWS_MATCHES(op.fn(tg::ones({3, 2, 5}), tg::ones({4, 1})), tg::ShapeError,
                         MessageContains({op.name, "[3, 2, 5]", "[4, 1]"}));
  }
  CHECK_THROWS_MATCHES(a + b, tg::ShapeError, MessageContains({"add", "[2, 3]", "[4]"}));
  CHECK_THROWS_MATCHES(a / tg::ones({3, 3}), tg::ShapeError, MessageContains({"div", "[2, 3]", "[3, 3]"}));
}

TEST_CASE("closed-form second derivatives of pow, square, reciprocal and mul", "[ops][arithmetic][higher_order]") {
  Tensor values = tg::from_vector(std::vector<double>{0.5, 1.5, 2.0, 3.0}, {4}, {.dtype = tg::kFloat64});
  auto second = [&](auto f) {
    Tensor x = values.detach().clone().requires_grad_();
    Tensor d1 = tg::grad({f(x).sum()}, {x}, {.create_graph = true})[0];
    if (!d1.requires_grad()) return tg::zeros_like(values);
    return tg::grad({d1.sum()}, {x}, {.allow_unused = true, .materialize_grads = true})[0];
  };
  // (x^p)'' = p (p - 1) x^(p - 2)
  for (double p : {2.5, -1.0, 3.0}) {
    INFO("p = " << p);
    CHECK(allclose(second([p](const Tensor& x) { return tg::pow(x, p); }), tg::pow(values, p - 2) * (p * (p - 1)),
                   1e-12, 0));
  }
  // p = 0: x^0 = 1 has derivatives 0 (as PyTorch), also the second
  CHECK(allclose(second([](const Tensor& x) { return tg::pow(x, 0); }), tg::zeros_like(values), 0, 0));
  // (x^2)'' = 2,  (1 / x)'' = 2 / x^3,  (x * x)'' = 2
  CHECK(allclose(second([](const Tensor& x) { return tg::square(x); }), tg::full({4}, 2.0, {.dtype = tg::kFloat64}), 0,
                 0));
  CHECK(allclose(second([](const Tensor& x) { return tg::reciprocal(x); }), 2.0 / tg::pow(values, 3), 1e-12, 0));
  CHECK(allclose(second([](const Tensor& x) { return x * x; }), tg::full({4}, 2.0, {.dtype = tg::kFloat64}), 0, 0));
}
