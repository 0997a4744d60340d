// SPDX-License-Identifier: MIT
// scaled_dot_product_attention (ops/attention.cpp): the composed math it fuses, the causal and
// boolean masks, a fully masked row (zeros, not NaN) and the backward from the saved softmax.
// Gradcheck, PyTorch fixtures and bad-input rows come from the registry (test_registry.cpp).
#include <cmath>
#include <vector>

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

// ---- second derivatives: backward with create_graph records the attention ----

namespace {

// The attention in elementwise ops, sums and softmax only (no matmul): a reference for its
// Hessians. keep: bool [T, S] (true: attend) or undefined; additive: a float mask or undefined.
Tensor composed_elementwise(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& keep,
                            const Tensor& additive) {
  Tensor scores = (q.unsqueeze(-2) * k.unsqueeze(-3)).sum(-1) / std::sqrt(static_cast<double>(q.size(-1)));
  if (keep.defined()) scores = tg::where(keep, scores, -INFINITY);
  if (additive.defined()) scores = scores + additive;
  return (tg::softmax(scores, -1).unsqueeze(-1) * v.unsqueeze(-3)).sum(-2);
}

}  // namespace

TEST_CASE("scaled_dot_product_attention passes gradgradcheck with masks, causal, a scale and heads",
          "[ops][attention][gradgradcheck]") {
  tg::Generator gen(11);
  auto draw = [&](const Shape& s) { return tg::test::uniform(s, gen, -1, 1); };
  Tensor keep = tg::tensor({{true, false, true, true}, {true, true, false, false}, {false, true, true, true}});
  Tensor dead = tg::tensor({{true, false, true, true}, {false, false, false, false}, {false, true, true, true}});
  struct Case {
    const char* name;
    std::vector<Tensor> inputs;
    tg::AttentionOptions options;
  };
  for (const Case& c : std::vector<Case>{
           {"plain", {draw({3, 2}), draw({4, 2}), draw({4, 3})}, {}},
           {"heads, causal", {draw({2, 2, 3, 2}), draw({2, 2, 3, 2}), draw({2, 2, 3, 2})}, {.is_causal = true}},
           {"bool mask, scale 0.7", {draw({2, 3, 2}), draw({2, 4, 2}), draw({2, 4, 2})}, {.mask = keep, .scale = 0.7}},
           {"fully masked row", {draw({3, 2}), draw({4, 2}), draw({4, 2})}, {.mask = dead}},
           {"float mask, broadcast", {draw({2, 3, 2}), draw({2, 4, 2}), draw({2, 4, 2}), draw({3, 4})}, {}}}) {
    INFO(c.name);
    auto f = [&](const std::vector<Tensor>& v) {
      tg::AttentionOptions o = c.options;
      if (v.size() == 4) o.mask = v[3];  // a float mask that requires grad
      return tg::scaled_dot_product_attention(v[0], v[1], v[2], o);
    };
    auto result = tg::gradgradcheck(f, c.inputs);
    INFO(result.message);
    CHECK(result.ok);
  }
}

TEST_CASE("scaled_dot_product_attention's Hessians equal those of the composed attention",
          "[ops][attention][higher_order]") {
  tg::Generator gen(12);
  auto draw = [&](const Shape& s) { return tg::test::uniform(s, gen, -1, 1); };
  const std::vector<Tensor> at = {draw({3, 2}), draw({3, 2}), draw({3, 2}), draw({3, 3})};
  const Tensor c = draw({3, 2});
  const Tensor lower = tg::tensor({{true, false, false}, {true, true, false}, {true, true, true}});
  for (bool causal : {false, true}) {
    INFO((causal ? "causal" : "float mask"));
    auto fused = [&](const std::vector<Tensor>& v) {
      tg::AttentionOptions o{.is_causal = causal};
      if (!causal) o.mask = v[3];
      return (tg::scaled_dot_product_attention(v[0], v[1], v[2], o) * c).sum();
    };
    auto reference = [&](const std::vector<Tensor>& v) {
      return (composed_elementwise(v[0], v[1], v[2], causal ? lower : Tensor(), causal ? Tensor() : v[3]) * c).sum();
    };
    const std::vector<Tensor> inputs = causal ? std::vector<Tensor>(at.begin(), at.begin() + 3) : at;
    auto got = tg::hessian(fused, inputs), want = tg::hessian(reference, inputs);
    for (std::size_t i = 0; i < inputs.size(); ++i)
      for (std::size_t j = 0; j < inputs.size(); ++j) {
        INFO("H[" << i << "][" << j << "]");
        CHECK(allclose(got[i][j], want[i][j], 1e-8, 1e-10));
      }
  }
}

TEST_CASE("scaled_dot_product_attention: a fully masked row has finite, zero second derivatives",
          "[ops][attention][higher_order]") {
  tg::Generator gen(13);
  Tensor mask = tg::tensor({{true, true, false}, {false, false, false}, {false, true, true}});
  Tensor c = tg::test::uniform({3, 2}, gen, -1, 1);
  auto f = [&](const Tensor& q) {
    Tensor k = tg::tensor({{0.5, -1.0}, {1.0, 0.25}, {-0.5, 0.75}}, {.dtype = tg::kFloat64});
    return (tg::scaled_dot_product_attention(q, k, k, {.mask = mask}) * c).sum();
  };
  Tensor h = tg::hessian(f, tg::test::uniform({3, 2}, gen, -1, 1));
  std::vector<double> values = h.tolist();
  for (double value : values) CHECK(std::isfinite(value));
  for (std::size_t i = 0; i < values.size(); ++i)  // entries of q's row 1, either side
    if ((i / 6) / 2 == 1 || (i % 6) / 2 == 1) CHECK(values[i] == 0.0);
}

TEST_CASE("scaled_dot_product_attention: first-order gradients are the same with and without create_graph",
          "[ops][attention][higher_order]") {
  tg::Generator gen(14);
  auto draw = [&](const Shape& s) { return tg::test::uniform(s, gen, -1, 1).requires_grad_(); };
  Tensor q = draw({2, 3, 2}), k = draw({2, 4, 2}), v = draw({2, 4, 3}), bias = draw({3, 4});
  Tensor keep = tg::tensor({{true, false, true, true}, {false, false, false, false}, {false, true, true, true}});
  for (int option = 0; option < 3; ++option) {
    INFO("option " << option);
    tg::AttentionOptions o;
    std::vector<Tensor> inputs = {q, k, v};
    if (option == 0) o.is_causal = true;
    if (option == 1) o.mask = keep;
    if (option == 2) {
      o.mask = bias;
      inputs.push_back(bias);
    }
    Tensor y = tg::scaled_dot_product_attention(q, k, v, o);
    Tensor seed = tg::test::uniform(y.shape(), gen, -1, 1);
    std::vector<Tensor> plain = tg::grad({y}, inputs, {.grad_outputs = {seed}, .retain_graph = true});
    std::vector<Tensor> recorded = tg::grad({y}, inputs, {.grad_outputs = {seed}, .create_graph = true});
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      CHECK_FALSE(plain[i].requires_grad());
      CHECK(recorded[i].requires_grad());
      CHECK(allclose(recorded[i], plain[i], 1e-10, 1e-12));
    }
  }
}
