// scaled_dot_product_attention (ops/attention.cpp): the composed math it fuses, the causal and
// boolean masks, a fully masked row (zeros, not NaN) and the backward from the saved softmax.
// Gradcheck, PyTorch fixtures and bad-input rows come from the registry (test_registry.cpp).
#include <cmath>

#include "framework/ops/op_test_util.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;

namespace {

// What the fused op computes, in separate recorded ops.
Tensor composed(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& additive) {
  Tensor scores = tg::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));
  if (additive.defined()) scores = scores + additive;
  return tg::matmul(tg::softmax(scores, -1), v);
}

struct Grads {
  Tensor dq, dk, dv;
};
Grads grads(const Tensor& out, const Tensor& g, const Tensor& q, const Tensor& k, const Tensor& v) {
  for (Tensor t : {q, k, v}) t.set_grad(Tensor());
  (out * g).sum().backward();
  return {q.grad(), k.grad(), v.grad()};
}

}  // namespace

TEST_CASE("scaled_dot_product_attention equals softmax(q k^T / sqrt(d)) v, forward and backward", "[ops][attention]") {
  tg::Generator gen(7);
  auto draw = [&](const Shape& s) { return tg::randn(s, gen, {.dtype = tg::kFloat64}).requires_grad_(); };
  Tensor q = draw({2, 3, 5, 4}), k = draw({2, 3, 6, 4}), v = draw({2, 3, 6, 2});
  Tensor g = tg::randn({2, 3, 5, 2}, gen, {.dtype = tg::kFloat64});
  Tensor fused = tg::scaled_dot_product_attention(q, k, v);
  Tensor plain = composed(q, k, v, Tensor());
  CHECK(fused.shape() == Shape{2, 3, 5, 2});
  CHECK(allclose(fused, plain, 1e-12, 1e-12));
  Grads a = grads(fused, g, q, k, v), b = grads(plain, g, q, k, v);
  CHECK(allclose(a.dq, b.dq, 1e-10, 1e-12));
  CHECK(allclose(a.dk, b.dk, 1e-10, 1e-12));
  CHECK(allclose(a.dv, b.dv, 1e-10, 1e-12));
}

TEST_CASE("scaled_dot_product_attention: is_causal is the lower-triangular mask, as a bool or a -inf mask",
          "[ops][attention]") {
  tg::Generator gen(8);
  Tensor q = tg::randn({2, 4, 3}, gen), k = tg::randn({2, 4, 3}, gen), v = tg::randn({2, 4, 2}, gen);
  Tensor causal = tg::scaled_dot_product_attention(q, k, v, {.is_causal = true});
  Tensor allowed = tg::tril(tg::ones({4, 4})).to(tg::kBool);
  CHECK(allclose(causal, tg::scaled_dot_product_attention(q, k, v, {.mask = allowed})));
  Tensor minus_inf = tg::masked_fill(tg::zeros({4, 4}), tg::triu(tg::ones({4, 4}), 1).to(tg::kBool), -INFINITY);
  CHECK(allclose(causal, tg::scaled_dot_product_attention(q, k, v, {.mask = minus_inf})));
  // the first query sees only the first key: its output is v's first row
  CHECK(allclose(causal.index({tg::Slice(), tg::Slice(0, 1)}), v.index({tg::Slice(), tg::Slice(0, 1)})));
}

TEST_CASE("scaled_dot_product_attention: a query with every key masked gets zeros and no gradient, not NaN",
          "[ops][attention]") {
  tg::Generator gen(9);
  auto draw = [&](const Shape& s) { return tg::randn(s, gen, {.dtype = tg::kFloat64}).requires_grad_(); };
  Tensor q = draw({3, 2}), k = draw({3, 2}), v = draw({3, 2});
  Tensor mask = tg::tensor({{true, true, false}, {false, false, false}, {false, true, true}});
  Tensor out = tg::scaled_dot_product_attention(q, k, v, {.mask = mask});
  for (double value : out.tolist()) CHECK(std::isfinite(value));
  CHECK(out.tolist()[2] == 0.0);
  CHECK(out.tolist()[3] == 0.0);
  out.sum().backward();
  for (double value : q.grad().tolist()) CHECK(std::isfinite(value));
  CHECK(q.grad().tolist()[2] == 0.0);  // row 1 of q took no part
  CHECK(q.grad().tolist()[3] == 0.0);
  // the other rows are what the unmasked keys alone give
  Tensor row0 = tg::scaled_dot_product_attention(
      q.detach().index({tg::Slice(0, 1)}), k.detach().index({tg::Slice(0, 2)}), v.detach().index({tg::Slice(0, 2)}));
  CHECK(allclose(out.detach().index({tg::Slice(0, 1)}), row0));
}

TEST_CASE("scaled_dot_product_attention: a scale replaces 1 / sqrt(d); a float mask is added to the scores",
          "[ops][attention]") {
  Tensor q = tg::tensor({{1.0, 0.0}}), k = tg::tensor({{1.0, 0.0}, {0.0, 1.0}}), v = tg::tensor({{1.0}, {0.0}});
  // scores [s, 0] with s = scale: the first key's weight is e^s / (e^s + 1)
  const double s = 2.0;
  CHECK(tg::scaled_dot_product_attention(q, k, v, {.scale = s}).item<float>() ==
        Approx(std::exp(s) / (std::exp(s) + 1)));
  Tensor bias = tg::tensor({{0.0, 2.0}});  // scores [1/sqrt 2, 2]
  const double a = 1 / std::sqrt(2.0);
  CHECK(tg::scaled_dot_product_attention(q, k, v, {.mask = bias}).item<float>() ==
        Approx(std::exp(a) / (std::exp(a) + std::exp(2.0))));
}

TEST_CASE("scaled_dot_product_attention: a float mask that requires grad gets dS, summed over its broadcast dims",
          "[ops][attention]") {
  tg::Generator gen(10);
  auto draw = [&](const Shape& s) { return tg::randn(s, gen, {.dtype = tg::kFloat64}).requires_grad_(); };
  Tensor q = draw({2, 3, 2}), k = draw({2, 4, 2}), v = draw({2, 4, 3});
  Tensor bias = draw({3, 4});  // one bias for both batch elements
  Tensor g = tg::randn({2, 3, 3}, gen, {.dtype = tg::kFloat64});
  (tg::scaled_dot_product_attention(q, k, v, {.mask = bias}) * g).sum().backward();
  Tensor fused = bias.grad();
  bias.set_grad(Tensor());
  (composed(q, k, v, bias) * g).sum().backward();
  CHECK(allclose(fused, bias.grad(), 1e-10, 1e-12));
}
