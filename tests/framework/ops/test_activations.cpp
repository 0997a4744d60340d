// SPDX-License-Identifier: MIT
// The elementwise functions of sequence models (ops/unary.cpp) and maximum/minimum
// (ops/arithmetic.cpp): closed forms, PyTorch's choices at the kinks and bounds, and extreme
// inputs. Gradcheck, PyTorch fixtures and bad-input rows come from the registry
// (test_registry.cpp).
#include <cmath>
#include <limits>
#include <numbers>

#include "framework/ops/op_test_util.hpp"

using tg::Tensor;
using tg::test::allclose;
using tg::test::MessageContains;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

Tensor leaf64(std::initializer_list<double> values) {
  return tg::from_vector(std::vector<double>(values), {static_cast<std::int64_t>(values.size())},
                         {.dtype = tg::kFloat64, .requires_grad = true});
}

// d(sum f(x))/dx for the values given, as a vector.
template <class F>
std::vector<double> grad_of(F f, std::initializer_list<double> values) {
  Tensor x = leaf64(values);
  f(x).sum().backward();
  return x.grad().tolist();
}

}  // namespace

TEST_CASE("abs and sign: values, and the gradient 0 at 0 as PyTorch", "[ops][activations]") {
  CHECK(tg::abs(leaf64({-2, 0, 3})).tolist() == std::vector<double>{2, 0, 3});
  CHECK(tg::sign(leaf64({-2, 0, 3})).tolist() == std::vector<double>{-1, 0, 1});
  CHECK(grad_of([](const Tensor& x) { return x.abs(); }, {-2, 0, 3}) == std::vector<double>{-1, 0, 1});
  CHECK(grad_of([](const Tensor& x) { return x.sign(); }, {-2, 0, 3}) == std::vector<double>{0, 0, 0});
  // int64 keeps its dtype
  Tensor i = tg::tensor({-3, 4});
  CHECK(tg::abs(i).dtype() == tg::kInt64);
  CHECK(tg::abs(i).tolist() == std::vector<double>{3, 4});
  CHECK(std::isnan(tg::sign(leaf64({kNaN})).item<double>()));
}

TEST_CASE("sqrt, rsqrt, log1p and erf against their closed forms", "[ops][activations]") {
  CHECK(grad_of([](const Tensor& x) { return x.sqrt(); }, {4.0}) == std::vector<double>{0.25});
  CHECK(grad_of([](const Tensor& x) { return x.sqrt(); }, {0.0})[0] == kInf);  // 1 / (2 sqrt 0), as PyTorch
  CHECK(grad_of([](const Tensor& x) { return x.rsqrt(); }, {4.0})[0] == Approx(-0.5 * std::pow(4.0, -1.5)));
  // log1p keeps the digits that log(1 + x) loses near 0
  CHECK(tg::log1p(leaf64({1e-12})).item<double>() == Approx(1e-12).epsilon(1e-12));
  CHECK(grad_of([](const Tensor& x) { return x.log1p(); }, {1.0}) == std::vector<double>{0.5});
  CHECK(tg::erf(leaf64({0.5})).item<double>() == Approx(std::erf(0.5)));
  CHECK(grad_of([](const Tensor& x) { return x.erf(); }, {0.0})[0] == Approx(2 * std::numbers::inv_sqrtpi));
}

TEST_CASE("gelu: exact and tanh forms at known points", "[ops][activations]") {
  // gelu(1) = Phi(1) = 0.8413447460685429; the tanh form differs in the 4th digit
  CHECK(tg::gelu(leaf64({1.0})).item<double>() == Approx(0.8413447460685429).epsilon(1e-12));
  CHECK(tg::gelu(leaf64({1.0}), "tanh").item<double>() == Approx(0.8411919906082768).epsilon(1e-12));
  // dgelu/dx (0) = 1/2 in both forms; far out the gradient is 1 (right) and 0 (left)
  for (const char* form : {"none", "tanh"}) {
    INFO(form);
    auto g = grad_of([form](const Tensor& x) { return tg::gelu(x, form); }, {0.0, 10.0, -10.0});
    CHECK(g[0] == Approx(0.5));
    CHECK(g[1] == Approx(1.0));
    CHECK(g[2] == Approx(0.0).margin(1e-12));
  }
  CHECK_THROWS_MATCHES(tg::gelu(leaf64({1.0}), "erf"), tg::ValueError, MessageContains({"\"none\""}));
}

TEST_CASE("leaky_relu, silu and softplus: closed forms and large inputs", "[ops][activations]") {
  CHECK(tg::leaky_relu(leaf64({-2, 3})).tolist() == std::vector<double>{-0.02, 3});
  CHECK(grad_of([](const Tensor& x) { return tg::leaky_relu(x, 0.2); }, {-2, 3}) == std::vector<double>{0.2, 1});
  // silu'(x) = s (1 + x (1 - s))
  const double s = 1 / (1 + std::exp(-1.5));
  CHECK(grad_of([](const Tensor& x) { return tg::silu(x); }, {1.5})[0] == Approx(s * (1 + 1.5 * (1 - s))));
  // softplus: ln 2 at 0; x itself above the threshold, never inf in float32
  CHECK(tg::softplus(leaf64({0.0})).item<double>() == Approx(std::log(2.0)));
  Tensor big = tg::tensor({100.0f, 1000.0f});
  CHECK(tg::softplus(big).tolist() == std::vector<double>{100, 1000});
  CHECK(grad_of([](const Tensor& x) { return tg::softplus(x); }, {0.0, 50.0}) == std::vector<double>{0.5, 1});
  CHECK(tg::softplus(leaf64({1.0}), 2).item<double>() == Approx(std::log1p(std::exp(2.0)) / 2));
}

TEST_CASE("clamp: bounds included in the gradient, NaN kept, int64 promoted by a fractional bound",
          "[ops][activations]") {
  CHECK(tg::clamp(leaf64({-2, -1, 0, 1, 2}), -1, 1).tolist() == std::vector<double>{-1, -1, 0, 1, 1});
  // the gradient passes at x == min and x == max, as PyTorch's clamp_backward
  CHECK(grad_of([](const Tensor& x) { return x.clamp(-1, 1); }, {-2, -1, 0, 1, 2}) ==
        std::vector<double>{0, 1, 1, 1, 0});
  CHECK(grad_of([](const Tensor& x) { return x.clamp_min(0); }, {-1, 0, 1}) == std::vector<double>{0, 1, 1});
  CHECK(grad_of([](const Tensor& x) { return x.clamp_max(0); }, {-1, 0, 1}) == std::vector<double>{1, 1, 0});
  Tensor nan = leaf64({kNaN});
  Tensor y = nan.clamp(-1, 1);
  CHECK(std::isnan(y.item<double>()));
  y.sum().backward();
  CHECK(nan.grad().item<double>() == 0);  // NaN >= min is false, as in PyTorch
  // min > max gives max everywhere, as PyTorch
  CHECK(tg::clamp(leaf64({-5, 5}), 2, 1).tolist() == std::vector<double>{1, 1});
  Tensor i = tg::tensor({-3, 0, 3});
  CHECK(tg::clamp(i, -1, 1).dtype() == tg::kInt64);
  Tensor f = tg::clamp(i, -0.5, 0.5);
  CHECK(f.dtype() == tg::kFloat32);
  CHECK(f.tolist() == std::vector<double>{-0.5, 0, 0.5});
}

TEST_CASE("maximum and minimum: broadcasting, NaN wins, a tie splits the gradient", "[ops][activations]") {
  Tensor a = leaf64({1, 5, 3}), b = tg::tensor({{2.0}, {3.0}}, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor y = tg::maximum(a, b);  // [2, 3]
  CHECK(y.shape() == tg::Shape{2, 3});
  CHECK(y.tolist() == std::vector<double>{2, 5, 3, 3, 5, 3});
  y.sum().backward();
  // a[2] = 3 wins against b[0] = 2 and ties with b[1] = 3: 1 + 1/2
  CHECK(a.grad().tolist() == std::vector<double>{0, 2, 1.5});
  CHECK(b.grad().tolist() == std::vector<double>{1, 1.5});
  Tensor c = leaf64({1, kNaN}), d = leaf64({kNaN, 1});
  CHECK(std::isnan(tg::maximum(c, d).tolist()[0]));
  CHECK(std::isnan(tg::minimum(c, d).tolist()[1]));
  CHECK(tg::minimum(leaf64({1, 5}), leaf64({2, 4})).tolist() == std::vector<double>{1, 4});
  CHECK(tg::maximum(tg::tensor({1, 7}), tg::tensor({3, 2})).dtype() == tg::kInt64);
}
