// SPDX-License-Identifier: MIT
// SGD: torch.optim.SGD's update rule, step by step, in closed form.
#include <cmath>
#include <limits>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "optim/optim_test_util.hpp"

using tg::Tensor;
using tg::test::param;
using tg::test::vec;

namespace {

bool close(const Tensor& a, const std::vector<double>& b) { return tg::test::allclose(a, vec(b), 1e-6, 1e-6); }

// torch.optim.SGD's documented rule for one scalar parameter, in double precision.
struct ScalarSGD {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
  double p, buf = 0;
  bool has_buf = false;

  void step(double grad) {
    double g = grad + weight_decay * p;
    if (momentum != 0) {
      buf = has_buf ? momentum * buf + (1 - dampening) * g : g;
      has_buf = true;
      g = nesterov ? g + momentum * buf : buf;
    }
    p -= lr * g;
  }
};

}  // namespace

TEST_CASE("SGD without momentum steps p -= lr * grad", "[optim]") {
  Tensor p = param({1, -2, 3});
  tg::SGD opt({p}, 0.1);
  p.set_grad(vec({0.5, 1, -2}));
  opt.step();
  CHECK(close(p, {0.95, -2.1, 3.2}));
  // The gradient is read, not consumed: a second step without zero_grad moves again.
  opt.step();
  CHECK(close(p, {0.9, -2.2, 3.4}));
  p.set_grad(vec({-1, 0, 4}));
  opt.set_lr(0.5);  // schedules change lr between steps
  CHECK(opt.lr() == 0.5);
  opt.step();
  CHECK(close(p, {1.4, -2.2, 1.4}));
  CHECK(p.is_leaf());
  CHECK(p.requires_grad());
}

TEST_CASE("SGD with weight decay adds weight_decay * p to the gradient", "[optim]") {
  Tensor p = param({1, -2, 4});
  tg::SGD opt({p}, 0.1, 0, 0, 0.5);
  p.set_grad(vec({0, 1, -1}));
  opt.step();
  // g = grad + 0.5 p = {0.5, 0, 1}
  CHECK(close(p, {0.95, -2, 3.9}));
  opt.step();
  // g = {0.475, 0, 0.95}, from the updated p
  CHECK(close(p, {0.9025, -2, 3.805}));
}

TEST_CASE("SGD with momentum starts its buffer at the gradient", "[optim]") {
  const double lr = 0.1, m = 0.9;
  Tensor p = param({1, 2});
  tg::SGD opt({p}, lr, m);
  p.set_grad(vec({1, -2}));
  // A constant gradient g gives buffers g, (1 + m) g, (1 + m + m^2) g.
  opt.step();
  CHECK(close(p, {1 - lr, 2 + 2 * lr}));
  opt.step();
  CHECK(close(p, {1 - lr * (2 + m), 2 + 2 * lr * (2 + m)}));
  opt.step();
  CHECK(close(p, {1 - lr * (3 + 2 * m + m * m), 2 + 2 * lr * (3 + 2 * m + m * m)}));
}

TEST_CASE("SGD dampening scales the new gradient after the first step only", "[optim]") {
  const double lr = 0.1, m = 0.5, d = 0.25;
  Tensor p = param({0});
  tg::SGD opt({p}, lr, m, d);
  p.set_grad(vec({2}));
  opt.step();  // b1 = g = 2, not (1 - d) g
  CHECK(close(p, {-lr * 2}));
  p.set_grad(vec({-4}));
  opt.step();  // b2 = m b1 + (1 - d) g2 = 1 - 3 = -2
  CHECK(close(p, {-lr * 2 + lr * 2}));
  opt.step();  // b3 = m b2 + (1 - d) g3 = -1 - 3 = -4
  CHECK(close(p, {lr * 4}));
}

TEST_CASE("SGD nesterov steps along g + momentum * buffer", "[optim]") {
  const double lr = 0.1, m = 0.9;
  Tensor p = param({1, -1});
  tg::SGD opt({p}, lr, m, 0, 0, true);
  p.set_grad(vec({1, 2}));
  opt.step();  // b1 = g, step g + m g
  CHECK(close(p, {1 - lr * (1 + m), -1 - 2 * lr * (1 + m)}));
  opt.step();  // b2 = (1 + m) g, step g + m (1 + m) g
  CHECK(close(p, {1 - lr * (2 + 2 * m + m * m), -1 - 2 * lr * (2 + 2 * m + m * m)}));
}

TEST_CASE("SGD matches the documented rule over many steps and settings", "[optim]") {
  struct Setting {
    double lr, momentum, dampening, weight_decay;
    bool nesterov;
  };
  std::vector<Setting> settings{{0.1, 0, 0, 0, false},     {0.05, 0.9, 0, 0, false},     {0.05, 0.9, 0.3, 0, false},
                                {0.05, 0.8, 0, 0.1, true}, {0.2, 0.5, 0.5, 0.01, false}, {0.01, 0, 0, 0.2, false}};
  const std::vector<double> p0{0.5, -1.5, 2.0};
  const std::vector<std::vector<double>> grads{{1, -1, 0.5}, {0.2, 0.3, -0.7}, {-1.5, 0, 2}, {0.4, 0.4, 0.4}};
  for (std::size_t s = 0; s < settings.size(); ++s) {
    const Setting& c = settings[s];
    INFO("setting " << s);
    Tensor p = param(p0);
    tg::SGD opt({p}, c.lr, c.momentum, c.dampening, c.weight_decay, c.nesterov);
    std::vector<ScalarSGD> reference;
    for (double v : p0) reference.push_back({c.lr, c.momentum, c.dampening, c.weight_decay, c.nesterov, v});
    for (std::size_t t = 0; t < grads.size(); ++t) {
      INFO("step " << t + 1);
      p.set_grad(vec(grads[t]));
      opt.step();
      std::vector<double> expected;
      for (std::size_t i = 0; i < reference.size(); ++i) {
        reference[i].step(grads[t][i]);
        expected.push_back(reference[i].p);
      }
      CHECK(close(p, expected));
    }
  }
}

TEST_CASE("SGD keeps one momentum buffer per parameter and skips parameters without grad", "[optim]") {
  const double lr = 0.1, m = 0.5;
  Tensor a = param({1}), b = param({10}), idle = param({7});
  tg::SGD opt({a, b, idle}, lr, m);
  a.set_grad(vec({1}));
  b.set_grad(vec({-2}));
  opt.step();  // buffers: a 1, b -2
  CHECK(close(a, {0.9}));
  CHECK(close(b, {10.2}));
  CHECK(close(idle, {7}));
  CHECK_FALSE(idle.grad().defined());

  a.set_grad(Tensor());
  opt.step();  // a is skipped and its buffer stays 1; b's becomes m (-2) - 2 = -3
  CHECK(close(a, {0.9}));
  CHECK(close(b, {10.5}));

  a.set_grad(vec({1}));
  opt.step();  // a: m 1 + 1 = 1.5; b: m (-3) - 2 = -3.5
  CHECK(close(a, {0.75}));
  CHECK(close(b, {10.85}));
  CHECK(close(idle, {7}));
}

TEST_CASE("SGD's momentum buffer does not alias the gradient", "[optim]") {
  Tensor p = param({0, 0});
  tg::SGD opt({p}, 1.0, 0.5);
  p.set_grad(vec({1, 2}));
  opt.step();  // b = {1, 2}
  CHECK(close(p, {-1, -2}));
  // zero_grad(false) then a backward() accumulate into the same gradient buffer in place.
  opt.zero_grad(false);
  (p * vec({3, 4})).sum().backward();
  REQUIRE(close(p.grad(), {3, 4}));
  opt.step();  // b = 0.5 {1, 2} + {3, 4}
  CHECK(close(p, {-4.5, -7}));
}

TEST_CASE("SGD steps without recording, though its parameters require grad", "[optim]") {
  tg::Generator gen(1);
  tg::Linear fc(3, 2, true, gen);
  tg::SGD opt(fc.parameters(), 0.1, 0.9, 0, 0.01, true);
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    fc(tg::randn({4, 3}, gen)).square().sum().backward();
    Tensor before = fc.weight.detach().clone();
    std::size_t tape_size = tg::Tape::current().size();
    REQUIRE_NOTHROW(opt.step());
    CHECK(tg::Tape::current().size() == tape_size);
    CHECK_FALSE(tg::test::allclose(fc.weight, before, 0, 0));
    CHECK(tg::is_grad_enabled());  // the step's NoGradGuard is gone
    for (const Tensor& p : fc.parameters()) {
      CHECK(p.is_leaf());
      CHECK(p.requires_grad());
    }
  }
}

TEST_CASE("SGD zero_grad clears or zeros the gradients", "[optim]") {
  Tensor a = param({1, 2}), b = param({3});
  tg::SGD opt({a, b}, 0.1);
  a.set_grad(vec({5, 6}));
  opt.zero_grad(false);
  REQUIRE(a.grad().defined());
  CHECK(close(a.grad(), {0, 0}));
  CHECK_FALSE(b.grad().defined());  // nothing to zero stays nothing

  b.set_grad(vec({7}));
  opt.zero_grad(true);
  CHECK_FALSE(a.grad().defined());
  CHECK_FALSE(b.grad().defined());

  a.set_grad(vec({5, 6}));
  opt.zero_grad();  // set_to_none is the default
  CHECK_FALSE(a.grad().defined());
}

TEST_CASE("SGD rejects invalid arguments", "[optim]") {
  Tensor p = param({1});
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(tg::SGD({p}, -0.1), tg::ValueError);
  CHECK_THROWS_WITH(tg::SGD({p}, -0.1), Catch::Contains("-0.1"));
  CHECK_THROWS_AS(tg::SGD({p}, nan), tg::ValueError);
  CHECK_THROWS_AS(tg::SGD({p}, std::numeric_limits<double>::infinity()), tg::ValueError);
  CHECK_THROWS_AS(tg::SGD({p}, 0.1, -0.5), tg::ValueError);
  CHECK_THROWS_AS(tg::SGD({p}, 0.1, nan), tg::ValueError);
  CHECK_THROWS_AS(tg::SGD({p}, 0.1, 0, 0, -1e-4), tg::ValueError);
  CHECK_THROWS_AS(tg::SGD({p}, 0.1, 0, 0, nan), tg::ValueError);
  CHECK_THROWS_AS(tg::SGD({p}, 0.1, 0, 0, 0, true), tg::ValueError);
  CHECK_THROWS_AS(tg::SGD({p}, 0.1, 0.9, 0.1, 0, true), tg::ValueError);
  CHECK_THROWS_AS(tg::SGD({}, 0.1), tg::ValueError);
  CHECK_THROWS_AS(tg::SGD({p, Tensor()}, 0.1), tg::ValueError);

  Tensor computed = p * 2.0;
  REQUIRE_FALSE(computed.is_leaf());
  CHECK_THROWS_AS(tg::SGD({computed}, 0.1), tg::ValueError);
  Tensor frozen = tg::ones({2});
  CHECK_THROWS_AS(tg::SGD({p, frozen}, 0.1), tg::ValueError);
  CHECK_THROWS_WITH(tg::SGD({p, frozen}, 0.1), Catch::Contains("requires_grad_()"));

  // The boundary values are fine: lr 0 leaves the parameters where they are.
  tg::SGD still({p}, 0, 0.9, 0.5, 0);
  p.set_grad(vec({3}));
  still.step();
  CHECK(close(p, {1}));
}

TEST_CASE("SGD fits Linear(1, 1) to y = 3x + 2", "[optim]") {
  tg::Generator gen(0);
  tg::Linear fc(1, 1, true, gen);
  Tensor x = tg::arange(-1, 1, 0.1).reshape({-1, 1});  // [20, 1]
  Tensor y = x * 3.0 + 2.0;
  tg::SGD opt(fc.parameters(), 0.1, 0.5);
  std::size_t tape_size = tg::Tape::current().size();
  double loss = 0;
  for (int step = 0; step < 500; ++step) {
    opt.zero_grad();
    Tensor l = (fc(x) - y).square().mean();
    l.backward();
    opt.step();
    loss = l.item<double>();
  }
  CHECK(fc.weight.item<double>() == Approx(3).margin(1e-3));
  CHECK(fc.bias.item<double>() == Approx(2).margin(1e-3));
  CHECK(loss < 1e-6);
  CHECK(tg::Tape::current().size() == tape_size);  // the training loop leaves nothing behind
}

TEST_CASE("SGD's lr is validated when set and kept on failure", "[optim]") {
  Tensor p = param({1});
  tg::SGD opt({p}, 0.1);
  CHECK(opt.lr() == 0.1);
  CHECK_THROWS_MATCHES(opt.set_lr(-2), tg::ValueError, tg::test::MessageContains({"SGD", "-2"}));
  CHECK_THROWS_AS(opt.set_lr(std::numeric_limits<double>::quiet_NaN()), tg::ValueError);
  CHECK(opt.lr() == 0.1);
  opt.set_lr(0);
  p.set_grad(vec({5}));
  opt.step();
  CHECK(close(p, {1}));
}
