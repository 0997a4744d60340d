// SPDX-License-Identifier: MIT
// softmax, log_softmax, cross_entropy and mse_loss (ops/loss.cpp): gradcheck, closed forms,
// stability for large logits, PyTorch's values (scripts/fixtures/pooling_loss.py) and errors.
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/ops/loss.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::MessageContains;

namespace {

Tensor load(const std::string& name) { return tg::load_npy(tg::test::fixture("torch/pooling_loss/" + name + ".npy")); }

std::vector<std::int64_t> random_targets(tg::Generator& gen, std::int64_t n, std::int64_t classes) {
  std::vector<std::int64_t> targets;
  for (std::int64_t i = 0; i < n; ++i) targets.push_back(tg::test::random_int(gen, 0, classes - 1));
  return targets;
}

}  // namespace

TEST_CASE("softmax and log_softmax pass gradcheck along every dim of random shapes", "[ops][loss][gradcheck]") {
  tg::Generator gen(91);
  for (int i = 0; i < 8; ++i) {
    Shape shape = tg::test::random_shape(gen, 0, 3);
    Tensor x = tg::test::uniform(shape, gen, -3, 3);
    int rank = std::max(shape.rank(), 1);
    for (int dim = -rank; dim < rank; ++dim) {
      INFO("shape " << shape.str() << " dim " << dim);
      auto result = tg::gradcheck([&](const std::vector<Tensor>& v) { return tg::softmax(v[0], dim); }, {x});
      INFO(result.message);
      REQUIRE(result.ok);
      result = tg::gradcheck([&](const std::vector<Tensor>& v) { return tg::log_softmax(v[0], dim); }, {x});
      INFO(result.message);
      REQUIRE(result.ok);
    }
  }
}

TEST_CASE("cross_entropy and mse_loss pass gradcheck on random shapes", "[ops][loss][gradcheck]") {
  tg::Generator gen(92);
  for (int i = 0; i < 6; ++i) {
    std::int64_t n = tg::test::random_int(gen, 1, 5), classes = tg::test::random_int(gen, 1, 6);
    std::vector<std::int64_t> targets = random_targets(gen, n, classes);
    INFO("logits [" << n << ", " << classes << "]");
    auto result = tg::gradcheck([&](const std::vector<Tensor>& v) { return tg::cross_entropy(v[0], targets); },
                                {tg::test::uniform({n, classes}, gen, -4, 4)});
    INFO(result.message);
    REQUIRE(result.ok);

    Shape shape = tg::test::random_shape(gen, 0, 3);
    INFO("mse_loss on " << shape.str());
    result = tg::gradcheck([](const std::vector<Tensor>& v) { return tg::mse_loss(v[0], v[1]); },
                           {tg::test::uniform(shape, gen, -2, 2), tg::test::uniform(shape, gen, -2, 2)});
    INFO(result.message);
    REQUIRE(result.ok);
  }
}

TEST_CASE("softmax: closed forms, slices that sum to 1, and a gradient that sums to 0", "[ops][loss]") {
  Tensor x = Tensor{{0, std::log(2.0), std::log(3.0)}}.requires_grad_();
  CHECK(allclose(tg::softmax(x, 1), Tensor{{1.0 / 6, 2.0 / 6, 3.0 / 6}}));
  CHECK(allclose(tg::log_softmax(x, -1), Tensor{{std::log(1.0 / 6), std::log(2.0 / 6), std::log(3.0 / 6)}}));
  // A single element along dim 0: softmax is 1 and log_softmax 0 (also for a 0-d tensor).
  CHECK(allclose(tg::softmax(x, 0), tg::ones({1, 3}), 0, 0));
  CHECK(allclose(tg::log_softmax(tg::scalar(4), 0), tg::scalar(0), 0, 0));

  tg::Generator gen(93);
  Tensor r = tg::test::uniform({3, 4, 5}, gen, -5, 5).requires_grad_();
  for (int dim : {0, 1, 2}) {
    INFO("dim " << dim);
    Tensor y = tg::softmax(r, dim);
    CHECK(allclose(y.sum(dim), tg::ones(r.shape().without(dim), {.dtype = tg::kFloat64}), 1e-12, 1e-12));
    // sum(softmax) is constant, so its gradient is 0; sum(log_softmax) along dim has
    // dx = 1 - n softmax.
    r.set_grad(Tensor());
    y.sum().backward();
    CHECK(allclose(r.grad(), tg::zeros(r.shape(), {.dtype = tg::kFloat64}), 0, 1e-12));
    r.set_grad(Tensor());
    tg::log_softmax(r, dim).sum().backward();
    CHECK(allclose(r.grad(), 1 - static_cast<double>(r.size(dim)) * y.detach(), 1e-12, 1e-12));
  }
}

TEST_CASE("softmax and log_softmax stay finite for logits of magnitude 1e3", "[ops][loss]") {
  Tensor big = Tensor{{1000, 0, -1000}, {1000, 1000, 1000}}.requires_grad_();
  CHECK(allclose(tg::softmax(big, 1), Tensor{{1, 0, 0}, {1.0 / 3, 1.0 / 3, 1.0 / 3}}));
  double ln3 = std::log(3.0);
  CHECK(allclose(tg::log_softmax(big, 1), Tensor{{0, -1000, -2000}, {-ln3, -ln3, -ln3}}));
  tg::log_softmax(big, 1).sum().backward();
  CHECK(allclose(big.grad(), Tensor{{-2, 1, 1}, {0, 0, 0}}, 1e-6, 1e-6));
}

TEST_CASE("cross_entropy: log K for uniform logits, gradient (softmax - onehot) / N", "[ops][loss]") {
  Tensor logits = tg::zeros({4, 10}, {.requires_grad = true});
  std::vector<std::int64_t> targets = {0, 3, 9, 2};
  Tensor loss = tg::cross_entropy(logits, targets);
  REQUIRE(loss.shape() == Shape{});
  CHECK(loss.item<double>() == Approx(std::log(10.0)).epsilon(1e-6));
  loss.backward();
  Tensor expected = tg::full({4, 10}, 0.1 / 4);
  for (std::int64_t n = 0; n < 4; ++n) expected.at({n, targets[static_cast<std::size_t>(n)]}) -= 0.25f;
  CHECK(allclose(logits.grad(), expected));

  // The same targets as an int64 tensor give the same loss.
  CHECK(tg::cross_entropy(logits.detach(), tg::tensor({0, 3, 9, 2}, {.dtype = tg::kInt64})).item() == loss.item());
}

TEST_CASE("cross_entropy is finite and exact for logits of magnitude 1e3", "[ops][loss]") {
  Tensor logits = Tensor{{1000, 0, -1000}, {0, 1000, 0}}.requires_grad_();
  Tensor loss = tg::cross_entropy(logits, tg::tensor({1, 1}, {.dtype = tg::kInt64}));
  // Row 0: logsumexp = 1000, -log p[1] = 1000; row 1: p[1] = 1, loss 0.
  CHECK(loss.item<double>() == 500);
  loss.backward();
  CHECK(allclose(logits.grad(), Tensor{{0.5, -0.5, 0}, {0, 0, 0}}, 1e-6, 1e-6));
  CHECK(tg::cross_entropy(tg::full({2, 3}, 1e3, {.dtype = tg::kFloat64}), tg::tensor({0, 2}, {.dtype = tg::kInt64}))
            .dtype() == tg::kFloat64);
}

TEST_CASE("mse_loss is the mean squared difference; both inputs get gradients", "[ops][loss]") {
  Tensor input = Tensor{{1, 2, 3}, {4, 5, 6}}.requires_grad_();
  Tensor target = Tensor{{1, 0, 3}, {0, 5, 7}}.requires_grad_();
  Tensor loss = tg::mse_loss(input, target);
  CHECK(loss.item<double>() == Approx((4 + 16 + 1) / 6.0));
  loss.backward();
  Tensor d = Tensor{{0, 2, 0}, {4, 0, -1}} * (2.0 / 6);
  CHECK(allclose(input.grad(), d));
  CHECK(allclose(target.grad(), -d));
  CHECK(std::isnan(tg::mse_loss(tg::zeros({0}), tg::zeros({0})).item()));  // torch: the mean of nothing
}

TEST_CASE("softmax, log_softmax, cross_entropy and mse_loss match torch", "[ops][loss][torch]") {
  Tensor x = load("softmax_x");
  for (std::string name : {"softmax", "log_softmax"})
    for (int dim : {0, 1, -1}) {
      std::string prefix = fmt::format("{}_dim{}", name, dim);
      INFO(prefix);
      Tensor leaf = x.clone().requires_grad_();
      Tensor y = name == "softmax" ? tg::softmax(leaf, dim) : tg::log_softmax(leaf, dim);
      CHECK(allclose(y, load(prefix + "_y")));
      (y * load(prefix + "_G")).sum().backward();
      CHECK(allclose(leaf.grad(), load(prefix + "_dx")));
    }
  for (int i = 0; i < 2; ++i) {
    std::string prefix = fmt::format("ce_case{}", i);
    INFO(prefix);
    Tensor logits = load(prefix + "_logits").requires_grad_();
    Tensor loss = tg::cross_entropy(logits, load(prefix + "_targets").to(tg::kInt64));
    CHECK(std::isfinite(loss.item()));
    CHECK(allclose(loss, load(prefix + "_loss")));
    loss.backward();
    CHECK(allclose(logits.grad(), load(prefix + "_dlogits")));
  }
  Tensor input = load("mse_input").requires_grad_(), target = load("mse_target").requires_grad_();
  Tensor loss = tg::mse_loss(input, target);
  CHECK(allclose(loss, load("mse_loss")));
  loss.backward();
  CHECK(allclose(input.grad(), load("mse_dinput")));
  CHECK(allclose(target.grad(), load("mse_dtarget")));
}

TEST_CASE("the losses reject bad ranks, mismatched sizes and bad class indices", "[ops][loss][errors]") {
  Tensor logits = tg::zeros({3, 4});
  auto ids = [](std::initializer_list<tg::NestedList> v) { return tg::tensor(v, {.dtype = tg::kInt64}); };
  // one example's scores [C] take a 0-d target
  CHECK_THROWS_MATCHES(tg::cross_entropy(tg::zeros({4}), ids({1})), tg::ShapeError,
                       MessageContains({"cross_entropy", "scores [4] need targets of shape []", "got [1]"}));
  CHECK_THROWS_MATCHES(tg::cross_entropy(logits, tg::zeros({3, 1}, {.dtype = tg::kInt64})), tg::ShapeError,
                       MessageContains({"cross_entropy", "targets of shape [3]", "got [3, 1]"}));
  CHECK_THROWS_MATCHES(tg::cross_entropy(logits, ids({0, 1})), tg::ShapeError,
                       MessageContains({"cross_entropy", "[3, 4]", "one class index per example", "got [2]"}));
  CHECK_THROWS_MATCHES(tg::cross_entropy(logits, ids({0, 4, 1})), tg::ValueError,
                       MessageContains({"cross_entropy", "target 4", "element 1", "[0, 4)"}));
  CHECK_THROWS_MATCHES(tg::cross_entropy(logits, std::vector<std::int64_t>{0, 1, -1}), tg::ValueError,
                       MessageContains({"cross_entropy", "target -1", "element 2", "[0, 4)", "ignore_index"}));
  // Float class indices are refused, as in PyTorch (float targets shaped like the logits are
  // class probabilities instead: test "cross_entropy with class probabilities").
  CHECK_THROWS_MATCHES(tg::cross_entropy(logits, Tensor{0, 1.5, 1}), tg::DtypeError,
                       MessageContains({"cross_entropy", "float32 [3]", "int64", "to(tg::kInt64)"}));
  CHECK_THROWS_MATCHES(tg::mse_loss(tg::zeros({3}), tg::zeros({3, 1})), tg::ShapeError,
                       MessageContains({"mse_loss", "[3]", "[3, 1]", "same shape"}));
  CHECK_THROWS_MATCHES(tg::softmax(logits, 2), tg::ValueError, MessageContains({"softmax", "dim 2"}));
  CHECK_THROWS_MATCHES(tg::log_softmax(logits, -3), tg::ValueError, MessageContains({"log_softmax", "dim -3"}));
}

// ---- second derivatives: backward with create_graph records softmax, log_softmax and the losses ----

namespace {

// J = diag(s) - s s^T, the Jacobian of s = softmax(x) for a vector x, as [n, n].
Tensor softmax_jacobian(const Tensor& s) {
  const std::int64_t n = s.numel();
  std::vector<double> p = s.tolist(), j(static_cast<std::size_t>(n * n));
  for (std::int64_t a = 0; a < n; ++a)
    for (std::int64_t b = 0; b < n; ++b)
      j[static_cast<std::size_t>(a * n + b)] = (a == b ? p[static_cast<std::size_t>(a)] : 0) -
                                               p[static_cast<std::size_t>(a)] * p[static_cast<std::size_t>(b)];
  return tg::from_vector(j, {n, n}, {.dtype = tg::kFloat64});
}

Tensor grad_of(const Tensor& y, const Tensor& x, const Tensor& seed, bool create_graph) {
  return tg::grad({y}, {x}, {.grad_outputs = {seed}, .create_graph = create_graph})[0];
}

}  // namespace

TEST_CASE("softmax and log_softmax pass gradgradcheck along every dim of random shapes", "[ops][loss][gradgradcheck]") {
  tg::Generator gen(93);
  for (int i = 0; i < 5; ++i) {
    Shape shape = tg::test::random_shape(gen, 1, 3);
    Tensor x = tg::test::uniform(shape, gen, -3, 3);
    for (int dim = -shape.rank(); dim < shape.rank(); ++dim) {
      INFO("shape " << shape.str() << " dim " << dim);
      auto result = tg::gradgradcheck([&](const std::vector<Tensor>& v) { return tg::softmax(v[0], dim); }, {x});
      INFO(result.message);
      CHECK(result.ok);
      result = tg::gradgradcheck([&](const std::vector<Tensor>& v) { return tg::log_softmax(v[0], dim); }, {x});
      INFO(result.message);
      CHECK(result.ok);
    }
  }
}

TEST_CASE("softmax and log_softmax: vector-Jacobian products and their derivatives in closed form",
          "[ops][loss][higher_order]") {
  tg::Generator gen(94);
  Tensor x = tg::test::uniform({5}, gen, -2, 2).requires_grad_();
  Tensor v = tg::test::uniform({5}, gen, -1, 1), u = tg::test::uniform({5}, gen, -1, 1);
  Tensor s = tg::softmax(x, 0);
  const Tensor J = softmax_jacobian(s.detach());
  // softmax: g = J v, and d<g, u>/dx = J (u * (v - s.v)) - (u.s) J v
  Tensor g = grad_of(s, x, v, true);
  CHECK(g.requires_grad());
  CHECK(allclose(g, tg::matmul(J, v), 1e-12, 1e-12));
  const double sv = (s.detach() * v).sum().item<double>(), us = (u * s.detach()).sum().item<double>();
  Tensor want = tg::matmul(J, u * (v - sv)) - tg::matmul(J, v) * us;
  CHECK(allclose(grad_of(g, x, u, false), want, 1e-10, 1e-12));
  // log_softmax: g = v - s sum(v), and d<g, u>/dx = -sum(v) J u
  Tensor gl = grad_of(tg::log_softmax(x, 0), x, v, true);
  CHECK(allclose(gl, v - s.detach() * v.sum().item<double>(), 1e-12, 1e-12));
  CHECK(allclose(grad_of(gl, x, u, false), tg::matmul(J, u) * -v.sum().item<double>(), 1e-10, 1e-12));
}

TEST_CASE("cross_entropy's Hessian in the logits is (diag(p) - p p^T) / count per row, 0 on ignored rows",
          "[ops][loss][higher_order]") {
  tg::Generator gen(95);
  Tensor logits = tg::test::uniform({3, 4}, gen, -2, 2);
  Tensor targets = tg::from_vector(std::vector<std::int64_t>{1, -100, 2}, {3});
  Tensor p = tg::softmax(logits, 1);
  // want[n, k, m, l] = [n = m] (diag(p_n) - p_n p_n^T)[k, l] * scale, for the rows not ignored
  auto want = [&](double scale, std::vector<bool> counted) {
    Tensor h = tg::zeros({3, 4, 3, 4}, {.dtype = tg::kFloat64});
    for (std::int64_t n = 0; n < 3; ++n) {
      if (!counted[static_cast<std::size_t>(n)]) continue;
      std::vector<double> block = softmax_jacobian(tg::select(p, 0, n)).tolist();
      for (std::int64_t k = 0; k < 4; ++k)
        for (std::int64_t l = 0; l < 4; ++l)
          h.data<double>()[((n * 4 + k) * 3 + n) * 4 + l] = block[static_cast<std::size_t>(k * 4 + l)] * scale;
    }
    return h;
  };
  for (double eps : {0.0, 0.2}) {
    INFO("label_smoothing " << eps);
    Tensor mean =
        tg::hessian([&](const Tensor& x) { return tg::cross_entropy(x, targets, {.label_smoothing = eps}); }, logits);
    CHECK(allclose(mean, want(0.5, {true, false, true}), 1e-10, 1e-12));  // 2 targets counted
    Tensor sum = tg::hessian(
        [&](const Tensor& x) { return tg::cross_entropy(x, targets, {.label_smoothing = eps, .reduction = "sum"}); },
        logits);
    CHECK(allclose(sum, want(1, {true, false, true}), 1e-10, 1e-12));
  }
  // Soft targets (each row sums to 1): the same Hessian, over N = 3 for "mean".
  Tensor q = tg::softmax(tg::test::uniform({3, 4}, gen, -1, 1), 1);
  Tensor soft = tg::hessian([&](const Tensor& x) { return tg::cross_entropy(x, q, {.label_smoothing = 0.1}); }, logits);
  CHECK(allclose(soft, want(1.0 / 3, {true, true, true}), 1e-10, 1e-12));
  // ... and the mixed derivative in the soft targets: d2/dtargets dlogits of -(1 - eps) sum q logp / N
  Tensor x = logits.clone().requires_grad_(), t = q.clone().requires_grad_();
  Tensor dx = tg::grad({tg::cross_entropy(x, t, {.label_smoothing = 0.1})}, {x}, {.create_graph = true})[0];
  Tensor w = tg::test::uniform({3, 4}, gen, -1, 1);
  // dx = (p sum_k q_k - q) / 3 with q = 0.9 t + 0.1 / 4, so d<dx, w>/dt[n, j] = 0.9 (sum_k w[n, k] p[n, k] - w[n, j]) /
  // 3
  Tensor want_dt = ((p * w).sum(1, true) - w) * (0.9 / 3);
  CHECK(allclose(grad_of(dx, t, w, false), want_dt, 1e-10, 1e-12));
}

TEST_CASE("nll_loss's gradient is linear in dloss and constant in the log-probabilities", "[ops][loss][higher_order]") {
  tg::Generator gen(96);
  Tensor logp = tg::log_softmax(tg::test::uniform({3, 4}, gen, -2, 2), 1).requires_grad_();
  Tensor targets = tg::from_vector(std::vector<std::int64_t>{3, 0, -100}, {3});
  Tensor dloss = tg::test::uniform({3}, gen, 0.5, 1.5).requires_grad_();
  Tensor loss = tg::nll_loss(logp, targets, {.reduction = "none"});
  Tensor g = grad_of(loss, logp, dloss, true);  // -dloss[n] on (n, t_n)
  auto d = dloss.detach().tolist();
  CHECK(allclose(
      g, tg::tensor({{0.0, 0.0, 0.0, -d[0]}, {-d[1], 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0}}, {.dtype = tg::kFloat64})));
  Tensor u = tg::test::uniform({3, 4}, gen, -1, 1);
  auto uv = u.tolist();
  CHECK_FALSE(tg::grad({g}, {logp}, {.grad_outputs = {u}, .retain_graph = true, .allow_unused = true})[0].defined());
  CHECK(allclose(grad_of(g, dloss, u, false), tg::tensor({-uv[3], -uv[4], 0.0}, {.dtype = tg::kFloat64})));
  // "mean": the Hessian is 0
  Tensor h = tg::hessian([&](const Tensor& x) { return tg::nll_loss(x, targets); }, logp.detach());
  CHECK(allclose(h, tg::zeros({3, 4, 3, 4}, {.dtype = tg::kFloat64}), 0, 0));
}

TEST_CASE("mse_loss's Hessian is 2/n I in the input, -2/n I between input and target", "[ops][loss][higher_order]") {
  tg::Generator gen(97);
  Tensor a = tg::test::uniform({2, 3}, gen, -2, 2), b = tg::test::uniform({2, 3}, gen, -2, 2);
  auto H = tg::hessian([](const std::vector<Tensor>& v) { return tg::mse_loss(v[0], v[1]); }, {a, b});
  Tensor eye = tg::zeros({2, 3, 2, 3}, {.dtype = tg::kFloat64});
  for (std::int64_t i = 0; i < 6; ++i) eye.data<double>()[i * 6 + i] = 1;
  CHECK(allclose(H[0][0], eye * (2.0 / 6), 1e-12, 1e-12));
  CHECK(allclose(H[1][1], eye * (2.0 / 6), 1e-12, 1e-12));
  CHECK(allclose(H[0][1], eye * (-2.0 / 6), 1e-12, 1e-12));
  CHECK(allclose(H[1][0], eye * (-2.0 / 6), 1e-12, 1e-12));
}

TEST_CASE("the losses' first-order gradients are the same with and without create_graph", "[ops][loss][higher_order]") {
  tg::Generator gen(98);
  Tensor x = tg::test::uniform({3, 4, 2}, gen, -2, 2).requires_grad_();
  Tensor targets = tg::from_vector(std::vector<std::int64_t>{0, 3, -100, 1, 2, 2}, {3, 2});
  Tensor soft = tg::softmax(tg::test::uniform({3, 4, 2}, gen, -1, 1), 1).requires_grad_();
  Tensor other = tg::test::uniform({3, 4, 2}, gen, -2, 2).requires_grad_();
  struct Case {
    const char* name;
    std::function<Tensor()> f;
  };
  for (const Case& c :
       std::vector<Case>{{"softmax", [&] { return tg::softmax(x, 1); }},
                         {"log_softmax", [&] { return tg::log_softmax(x, -1); }},
                         {"cross_entropy", [&] { return tg::cross_entropy(x, targets, {.label_smoothing = 0.3}); }},
                         {"cross_entropy none", [&] { return tg::cross_entropy(x, targets, {.reduction = "none"}); }},
                         {"cross_entropy soft", [&] { return tg::cross_entropy(x, soft, {.label_smoothing = 0.1}); }},
                         {"nll_loss", [&] { return tg::nll_loss(x, targets, {.reduction = "sum"}); }},
                         {"mse_loss", [&] { return tg::mse_loss(x, other); }}}) {
    INFO(c.name);
    Tensor y = c.f();
    Tensor seed = tg::test::uniform(y.shape(), gen, -1, 1);
    std::vector<Tensor> inputs = {x};
    if (std::string(c.name) == "cross_entropy soft") inputs.push_back(soft);
    if (std::string(c.name) == "mse_loss") inputs.push_back(other);
    std::vector<Tensor> plain = tg::grad({y}, inputs, {.grad_outputs = {seed}, .retain_graph = true});
    std::vector<Tensor> recorded = tg::grad({y}, inputs, {.grad_outputs = {seed}, .create_graph = true});
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      CHECK_FALSE(plain[k].requires_grad());
      // nll_loss's gradient is constant in its input: with a constant seed it needs no graph
      CHECK(recorded[k].requires_grad() == (std::string(c.name) != "nll_loss"));
      CHECK(allclose(recorded[k], plain[k], 1e-12, 1e-14));
    }
  }
}
