// softmax, log_softmax, cross_entropy and mse_loss (ops/loss.cpp): gradcheck, closed forms,
// stability for large logits, PyTorch's values (scripts/fixtures/pooling_loss.py) and errors.
#include <cmath>
#include <cstdint>
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
