// SPDX-License-Identifier: MIT
// cross_entropy's options (ignore_index, label_smoothing, reduction, [N, C, d...] logits),
// nll_loss and binary_cross_entropy_with_logits (ops/loss.cpp): closed forms and PyTorch's
// conventions. Gradcheck, PyTorch fixtures and bad-input rows come from the registry
// (test_registry.cpp).
#include <cmath>
#include <limits>
#include <vector>

#include "framework/ops/op_test_util.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::leaf64;

namespace {

Tensor ids(std::vector<std::int64_t> values, const Shape& shape) { return tg::from_vector(values, shape); }

}  // namespace

TEST_CASE("cross_entropy: uniform logits cost ln C; ignored targets add nothing and are not counted", "[ops][loss]") {
  Tensor logits = leaf64({0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0}, {3, 4});
  // rows 0 and 1 are uniform (ln 4 each); row 2 is ignored, whatever its logits.
  Tensor loss = tg::cross_entropy(logits, ids({1, 3, -100}, {3}));
  CHECK(loss.item<double>() == Approx(std::log(4.0)));
  loss.backward();
  // d/dlogits = (softmax - onehot) / 2 on the two counted rows, 0 on the ignored one
  CHECK(allclose(logits.grad(),
                 tg::tensor({{0.125, -0.375, 0.125, 0.125}, {0.125, 0.125, 0.125, -0.375}, {0.0, 0.0, 0.0, 0.0}},
                            {.dtype = tg::kFloat64})));
  // sum and none
  CHECK(tg::cross_entropy(logits.detach(), ids({1, 3, -100}, {3}), {.reduction = "sum"}).item<double>() ==
        Approx(2 * std::log(4.0)));
  Tensor each = tg::cross_entropy(logits.detach(), ids({1, 3, -100}, {3}), {.reduction = "none"});
  CHECK(each.shape() == Shape{3});
  CHECK(each.tolist()[2] == 0.0);
  // every target ignored: mean of nothing is NaN, as PyTorch
  CHECK(std::isnan(tg::cross_entropy(logits.detach(), ids({-100, -100, -100}, {3})).item<double>()));
  // a custom ignore_index
  CHECK(tg::cross_entropy(logits.detach(), ids({1, 3, 2}, {3}), {.ignore_index = 2}).item<double>() ==
        Approx(std::log(4.0)));
}

TEST_CASE("cross_entropy: label smoothing mixes the one-hot target with the uniform one", "[ops][loss]") {
  Tensor logits = leaf64({2, -1, 0.5}, {1, 3});
  const double eps = 0.3;
  Tensor logp = tg::log_softmax(logits.detach(), 1);
  auto lp = logp.tolist();
  const double want = -(1 - eps) * lp[0] - eps / 3 * (lp[0] + lp[1] + lp[2]);
  Tensor loss = tg::cross_entropy(logits, ids({0}, {1}), {.label_smoothing = eps});
  CHECK(loss.item<double>() == Approx(want));
  loss.backward();
  // the gradient is softmax - q, q = (1 - eps) onehot + eps / C
  auto p = tg::softmax(logits.detach(), 1).tolist();
  CHECK(logits.grad().tolist()[0] == Approx(p[0] - (1 - eps) - eps / 3));
  CHECK(logits.grad().tolist()[1] == Approx(p[1] - eps / 3));
}

TEST_CASE("cross_entropy over a sequence: [B, C, T] logits equal the flattened [B T, C] loss", "[ops][loss]") {
  tg::Generator gen(3);
  Tensor logits = tg::randn({2, 5, 4}, gen, {.dtype = tg::kFloat64}).requires_grad_();
  Tensor targets = ids({0, 4, 4, 1, 2, 3, 0, 1}, {2, 4});
  Tensor seq = tg::cross_entropy(logits, targets);
  // the same examples laid out as rows: [B, C, T] -> [B, T, C] -> [B T, C]
  Tensor flat = tg::cross_entropy(logits.permute({0, 2, 1}).reshape({8, 5}), targets.reshape({8}));
  CHECK(seq.item<double>() == Approx(flat.item<double>()));
  seq.backward();
  Tensor g_seq = logits.grad().clone();
  logits.set_grad(Tensor());
  flat.backward();
  CHECK(allclose(g_seq, logits.grad()));
  // one example: logits [C] with a 0-d target
  Tensor one = tg::cross_entropy(tg::tensor({0.0, 0.0}), ids({1}, {}));
  CHECK(one.item<float>() == Approx(std::log(2.0)));
}

TEST_CASE("nll_loss: the negated log-probability of the target; cross_entropy is nll_loss of log_softmax",
          "[ops][loss]") {
  Tensor logp = leaf64({-0.5, -1, -2, -3, -0.25, -4}, {2, 3});
  Tensor loss = tg::nll_loss(logp, ids({2, 1}, {2}));
  CHECK(loss.item<double>() == Approx((2 + 0.25) / 2));
  loss.backward();
  CHECK(allclose(logp.grad(), tg::tensor({{0.0, 0.0, -0.5}, {0.0, -0.5, 0.0}}, {.dtype = tg::kFloat64})));
  Tensor x = tg::tensor({{1.0, 2.0, 0.5}, {-1.0, 0.0, 3.0}});
  CHECK(tg::nll_loss(tg::log_softmax(x, 1), ids({0, 2}, {2})).item<float>() ==
        Approx(tg::cross_entropy(x, ids({0, 2}, {2})).item<float>()));
  CHECK(tg::nll_loss(logp.detach(), ids({2, 1}, {2}), {.ignore_index = 1, .reduction = "sum"}).item<double>() ==
        Approx(2.0));
}

TEST_CASE("binary_cross_entropy_with_logits: closed form, no overflow at large logits, pos_weight and weight",
          "[ops][loss]") {
  Tensor x = leaf64({0, 2, -1000, 1000}, {4});
  Tensor y = leaf64({1, 0, 0, 1}, {4});
  Tensor each = tg::binary_cross_entropy_with_logits(x, y, {.reduction = "none"});
  auto l = each.tolist();
  CHECK(l[0] == Approx(std::log(2.0)));                   // -ln sigmoid(0)
  CHECK(l[1] == Approx(2 + std::log1p(std::exp(-2.0))));  // -ln(1 - sigmoid(2)) = 2 + ln(1 + e^-2)
  CHECK(l[2] == 0.0);                                     // certain and right: exactly 0, no inf - inf
  CHECK(l[3] == 0.0);
  each.sum().backward();
  // dx = sigmoid(x) - y, dy = -x
  CHECK(x.grad().tolist()[0] == Approx(-0.5));
  CHECK(x.grad().tolist()[1] == Approx(1 / (1 + std::exp(-2.0))));
  CHECK(y.grad().tolist()[1] == Approx(-2));
  // pos_weight p scales the positive term: p y softplus(-x) + (1 - y) softplus(x)
  Tensor p = tg::tensor({3.0}, {.dtype = tg::kFloat64});
  Tensor z = tg::tensor({0.5}, {.dtype = tg::kFloat64}), t = tg::tensor({1.0}, {.dtype = tg::kFloat64});
  CHECK(tg::binary_cross_entropy_with_logits(z, t, {.pos_weight = p}).item<double>() ==
        Approx(3 * std::log1p(std::exp(-0.5))));
  Tensor w = tg::tensor({2.0, 0.0}, {.dtype = tg::kFloat64});
  CHECK(tg::binary_cross_entropy_with_logits(tg::zeros({2}, {.dtype = tg::kFloat64}),
                                             tg::ones({2}, {.dtype = tg::kFloat64}), {.weight = w})
            .item<double>() == Approx(std::log(2.0)));  // mean of 2 ln 2 and 0
}

TEST_CASE("cross_entropy with soft targets that require grad: dtargets = -(1 - eps) log_softmax", "[ops][loss]") {
  Tensor logits = leaf64({1, 0, -1, 0.5, 0.5, 2}, {2, 3});
  Tensor q = tg::from_vector({0.2, 0.3, 0.5, 1, 0, 0}, {2, 3}, {.dtype = tg::kFloat64, .requires_grad = true});
  tg::cross_entropy(logits, q, {.label_smoothing = 0.25, .reduction = "sum"}).backward();
  CHECK(allclose(q.grad(), tg::log_softmax(logits.detach(), 1) * -0.75));
}

TEST_CASE("an input that requires grad where the op gives none is refused, not silently left without one",
          "[ops][loss][errors]") {
  using tg::test::MessageContains;
  Tensor logits = tg::zeros({2, 3}, {.requires_grad = true}), targets = tg::ones({2, 3});
  Tensor weight = tg::ones({3}, {.requires_grad = true});
  CHECK_THROWS_MATCHES(tg::binary_cross_entropy_with_logits(logits, targets, {.weight = weight}), tg::AutogradError,
                       MessageContains({"binary_cross_entropy_with_logits", "input 2", "float32 [3]", ".detach()"}));
  // refused even when nothing else requires grad, and fine once detached
  CHECK_THROWS_AS(tg::binary_cross_entropy_with_logits(logits.detach(), targets, {.pos_weight = weight}),
                  tg::AutogradError);
  CHECK_NOTHROW(tg::binary_cross_entropy_with_logits(logits, targets, {.weight = weight.detach()}));
}

// ---- second derivatives (backward with create_graph) ----

TEST_CASE("cross_entropy and nll_loss over sequences pass gradgradcheck with every option",
          "[ops][loss][gradgradcheck]") {
  tg::Generator gen(41);
  Tensor targets = ids({0, 3, 1, 2, -100, 0, 2, 2}, {2, 4});
  for (const char* reduction : {"mean", "sum", "none"})
    for (double eps : {0.0, 0.3}) {
      INFO("reduction " << reduction << ", label_smoothing " << eps);
      Tensor logits = tg::test::uniform({2, 4, 4}, gen, -2, 2);
      auto result = tg::gradgradcheck(
          [&](const std::vector<Tensor>& v) {
            return tg::cross_entropy(v[0], v[1], {.label_smoothing = eps, .reduction = reduction});
          },
          {logits, targets});
      INFO(result.message);
      CHECK(result.ok);
      // soft targets, which get a second derivative too (the mixed one, -(1 - eps) dlog_softmax)
      Tensor soft = tg::softmax(tg::test::uniform({2, 4, 4}, gen, -1, 1), 1);
      result = tg::gradgradcheck(
          [&](const std::vector<Tensor>& v) {
            return tg::cross_entropy(v[0], v[1], {.label_smoothing = eps, .reduction = reduction});
          },
          {logits, soft});
      INFO("soft targets: " << result.message);
      CHECK(result.ok);
      if (eps != 0) continue;
      result = tg::gradgradcheck(
          [&](const std::vector<Tensor>& v) {
            return tg::nll_loss(v[0], v[1], {.reduction = reduction});  // element 4 is ignored
          },
          {tg::log_softmax(logits, 1), targets});
      INFO("nll_loss: " << result.message);
      CHECK(result.ok);
    }
}

TEST_CASE("binary_cross_entropy_with_logits: second derivatives in closed form, and gradgradcheck",
          "[ops][loss][higher_order]") {
  tg::Generator gen(42);
  Tensor x = tg::test::uniform({2, 3}, gen, -3, 3), y = tg::test::uniform({2, 3}, gen, 0, 1);
  Tensor w = tg::test::uniform({2, 1}, gen, 0.5, 2), p = tg::test::uniform({3}, gen, 0.5, 3);
  auto H = tg::hessian(
      [&](const std::vector<Tensor>& v) {
        return tg::binary_cross_entropy_with_logits(v[0], v[1], {.weight = w, .pos_weight = p, .reduction = "sum"});
      },
      {x, y});
  // d2/dx2 = w (1 + (p - 1) y) s (1 - s),  d2/dx dy = w ((p - 1) s - p),  d2/dy2 = 0, all diagonal
  Tensor s = tg::sigmoid(x);
  Tensor xx = w * ((p - 1.0) * y + 1.0) * s * (1.0 - s), xy = w * ((p - 1.0) * s - p);
  auto diagonal = [](const Tensor& d) {
    Tensor h = tg::zeros({2, 3, 2, 3}, {.dtype = tg::kFloat64});
    for (std::int64_t i = 0; i < 6; ++i) h.data<double>()[i * 6 + i] = d.tolist()[static_cast<std::size_t>(i)];
    return h;
  };
  CHECK(allclose(H[0][0], diagonal(xx), 1e-10, 1e-12));
  CHECK(allclose(H[0][1], diagonal(xy), 1e-10, 1e-12));
  CHECK(allclose(H[1][0], diagonal(xy), 1e-10, 1e-12));
  CHECK(allclose(H[1][1], tg::zeros({2, 3, 2, 3}, {.dtype = tg::kFloat64}), 0, 1e-12));
  for (const char* reduction : {"mean", "none"}) {
    INFO(reduction);
    auto result = tg::gradgradcheck(
        [&](const std::vector<Tensor>& v) {
          return tg::binary_cross_entropy_with_logits(v[0], v[1],
                                                      {.weight = w, .pos_weight = p, .reduction = reduction});
        },
        {x, y});
    INFO(result.message);
    CHECK(result.ok);
  }
}
