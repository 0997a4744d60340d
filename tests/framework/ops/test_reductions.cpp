// SPDX-License-Identifier: MIT
// logsumexp, var, std and cumsum (ops/reduce.cpp): closed forms, stability at large inputs, and
// PyTorch's conventions (Bessel's correction by default, int64 running sums). Gradcheck,
// PyTorch fixtures and bad-input rows come from the registry (test_registry.cpp).
#include <cmath>
#include <limits>

#include "framework/ops/op_test_util.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::leaf64;

TEST_CASE("logsumexp: closed form, no overflow at large logits, the softmax as its gradient", "[ops][reductions]") {
  Tensor x = leaf64({0, std::log(3.0), 1000, 1000}, {2, 2});
  Tensor y = tg::logsumexp(x, 1);
  CHECK(y.tolist()[0] == Approx(std::log(4.0)));
  CHECK(y.tolist()[1] == Approx(1000 + std::log(2.0)));  // e^1000 overflows; the result does not
  y.sum().backward();
  CHECK(x.grad().tolist()[0] == Approx(0.25));
  CHECK(x.grad().tolist()[1] == Approx(0.75));
  CHECK(x.grad().tolist()[2] == Approx(0.5));
  // a row of -inf gives -inf, as PyTorch
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(tg::logsumexp(tg::tensor({-inf, -inf}), 0).item<float>() == -std::numeric_limits<float>::infinity());
  CHECK(x.detach().logsumexp(0, true).shape() == Shape{1, 2});
}

TEST_CASE("var and std: unbiased by default, biased on request, along a dim or of all elements", "[ops][reductions]") {
  Tensor x = leaf64({1, 2, 3, 4}, {4});
  CHECK(tg::var(x).item<double>() == Approx(5.0 / 3));  // sum of squares 5 over n - 1 = 3
  CHECK(tg::var(x, false).item<double>() == Approx(1.25));
  CHECK(tg::std(x).item<double>() == Approx(std::sqrt(5.0 / 3)));
  tg::var(x).backward();
  // d var / d x_i = 2 (x_i - mean) / (n - 1)
  CHECK(allclose(x.grad(), tg::tensor({-1.0, -1 / 3.0, 1 / 3.0, 1.0}, {.dtype = tg::kFloat64}), 1e-12, 1e-12));
  Tensor m = leaf64({1, 3, 2, 2}, {2, 2});
  CHECK(tg::var(m, 1).tolist() == std::vector<double>{2, 0});
  CHECK(m.var(0, false, true).shape() == Shape{1, 2});
  CHECK(m.std(1, true, true).shape() == Shape{2, 1});
}

TEST_CASE("cumsum: running sums along a dim; int64 stays int64; the gradient sums the future", "[ops][reductions]") {
  Tensor x = leaf64({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = x.cumsum(1);
  CHECK(y.tolist() == std::vector<double>{1, 3, 6, 4, 9, 15});
  CHECK(tg::cumsum(x.detach(), 0).tolist() == std::vector<double>{1, 2, 3, 5, 7, 9});
  y.sum().backward();
  CHECK(x.grad().tolist() == std::vector<double>{3, 2, 1, 3, 2, 1});  // x_j reaches y_j .. y_end
  Tensor i = tg::tensor({1, 2, 3});
  CHECK(tg::cumsum(i, 0).dtype() == tg::kInt64);
  CHECK(tg::cumsum(tg::tensor({true, true, false}), 0).tolist() == std::vector<double>{1, 2, 2});
}

TEST_CASE("prod: closed form, and PyTorch's gradient where the line has zeros", "[ops][reductions]") {
  Tensor x = leaf64({2, 3, 4, 0.5, 0, 6, 0, 0, 7}, {3, 3});
  Tensor y = tg::prod(x, 1);
  CHECK(y.tolist() == std::vector<double>{24, 0, 0});
  y.backward(tg::ones({3}, {.dtype = tg::kFloat64}));
  // no zero: y / x;  one zero: the product of the others at the zero, 0 elsewhere;  two: all 0
  CHECK(x.grad().tolist() == std::vector<double>{12, 8, 6, 0, 3, 0, 0, 0, 0});
  CHECK(tg::prod(tg::tensor({1.5, -2.0, 4.0})).item<float>() == Approx(-12));
  CHECK(x.detach().prod(0, true).shape() == Shape{1, 3});
  // integers multiply as int64, as PyTorch
  Tensor ints = tg::tensor({{2, 3}, {4, 5}});
  CHECK(tg::prod(ints).dtype() == tg::kInt64);
  CHECK(tg::prod(ints).item<std::int64_t>() == 120);
  CHECK(tg::prod(tg::tensor({true, true, false})).item<std::int64_t>() == 0);
  // the product of nothing is 1
  CHECK(tg::prod(tg::zeros({2, 0}), 1).tolist() == std::vector<double>{1, 1});
}
