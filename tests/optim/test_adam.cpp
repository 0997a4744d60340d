// SPDX-License-Identifier: MIT
// Adam and AdamW: torch.optim's trajectories, the rule in closed form, per-parameter step
// counts, validation, and state_dict/load_state_dict.
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "optim/optim_test_util.hpp"
#include "tapegrad/optim/adam.hpp"

using tg::Tensor;
using tg::test::param;
using tg::test::State;
using tg::test::vec;

namespace {

Tensor load(const std::string& name) { return tg::load_npy(tg::test::fixture("torch/adam/" + name + ".npy")); }

struct Config {
  std::string name;
  std::array<double, 2> betas;
  double weight_decay;
  bool amsgrad;
};

std::unique_ptr<tg::Adam> make(bool adamw, std::vector<Tensor> params, double lr, const Config& c) {
  if (adamw) return std::make_unique<tg::AdamW>(std::move(params), lr, c.betas, 1e-8, c.weight_decay, c.amsgrad);
  return std::make_unique<tg::Adam>(std::move(params), lr, c.betas, 1e-8, c.weight_decay, c.amsgrad);
}

// torch.optim.Adam/AdamW's documented rule for one scalar parameter, in double precision.
struct ScalarAdam {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, decoupled;
  double p, m = 0, v = 0, v_max = 0;
  int t = 0;

  void step(double grad) {
    ++t;
    if (decoupled) p -= lr * weight_decay * p;
    const double g = decoupled ? grad : grad + weight_decay * p;
    m = beta1 * m + (1 - beta1) * g;
    v = beta2 * v + (1 - beta2) * g * g;
    v_max = std::max(v_max, v);
    const double m_hat = m / (1 - std::pow(beta1, t));
    const double v_hat = (amsgrad ? v_max : v) / (1 - std::pow(beta2, t));
    p -= lr * m_hat / (std::sqrt(v_hat) + eps);
  }
};

}  // namespace

TEST_CASE("Adam and AdamW follow torch.optim's trajectories step by step", "[optim][adam]") {
  const std::vector<Config> configs = {
      {"plain", {0.9, 0.999}, 0, false}, {"weight_decay", {0.9, 0.999}, 0.1, false}, {"amsgrad", {0.9, 0.999}, 0, true},
      {"betas", {0.8, 0.99}, 0, false},  {"amsgrad_betas", {0.8, 0.99}, 0, true},
  };
  const Tensor grads = load("grads");  // [6, 3, 4]
  for (bool adamw : {false, true}) {
    for (Config c : configs) {
      if (adamw && c.name != "weight_decay") c.weight_decay = 1e-2;  // AdamW's default
      const std::string name = fmt::format("{}_{}", adamw ? "adamw" : "adam", c.name);
      const Tensor expected = load(name + "_params");  // p after each step
      REQUIRE(expected.shape() == grads.shape());
      for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64}) {
        INFO(name << " in " << tg::dtype_name(dtype));
        // float32 runs as torch's did, to rounding; float64 differs by torch's float32 rounding.
        const double rtol = dtype == tg::kFloat32 ? 1e-6 : 1e-5;
        Tensor p = load("p0").to(dtype).requires_grad_();
        auto optimizer = make(adamw, {p}, 0.05, c);
        for (std::int64_t t = 0; t < grads.size(0); ++t) {
          INFO("step " << t + 1);
          p.set_grad(tg::test::step_slice(grads, t).to(dtype));
          optimizer->step();
          const Tensor want = tg::test::step_slice(expected, t).to(dtype);
          INFO("tapegrad: " << tg::to_string(p) << "\ntorch:    " << tg::to_string(want));
          CHECK(tg::test::allclose(p, want, rtol, 1e-7));
        }
        const State state = optimizer->state_dict();
        CHECK(tg::test::entry(state, "state.0.step").item<double>() == 6);
        for (std::string key : {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}) {
          INFO(key);
          const Tensor saved = tg::test::entry(state, "state.0." + key);
          REQUIRE(saved.defined() == (key != "max_exp_avg_sq" || c.amsgrad));
          if (saved.defined()) CHECK(tg::test::allclose(saved, load(name + "_" + key).to(dtype), 1e-5, 1e-9));
        }
      }
    }
  }
}

TEST_CASE("Adam's first steps move each coordinate by lr * sign(grad)", "[optim][adam]") {
  // With a constant gradient g, m_hat = g and v_hat = g^2 at every step: the bias
  // corrections undo the zero start exactly, and each step is lr * g / (|g| + eps).
  const double lr = 0.1, eps = 1e-8;
  Tensor p = param({1, -2, 3, 0.5}, tg::kFloat64);
  const std::vector<double> g{0.5, -4, 1e-3, 0};
  tg::Adam optimizer({p}, lr);
  p.set_grad(vec(g, tg::kFloat64));
  for (int t = 1; t <= 3; ++t) {
    optimizer.step();
    std::vector<double> expected{1, -2, 3, 0.5};
    for (std::size_t k = 0; k < g.size(); ++k) expected[k] -= t * lr * g[k] / (std::abs(g[k]) + eps);
    CHECK(tg::test::allclose(p, vec(expected, tg::kFloat64), 1e-12, 1e-14));
  }
}

TEST_CASE("Adam adds eps after the square root", "[optim][adam]") {
  // g = 1, eps = 1: step 1 has m_hat = v_hat = 1, so the update is lr / (1 + eps) = lr / 2,
  // not lr / sqrt(1 + eps) as it would be with eps under the root.
  Tensor p = param({0}, tg::kFloat64);
  tg::Adam optimizer({p}, 0.1, {0.9, 0.999}, 1.0);
  p.set_grad(vec({1}, tg::kFloat64));
  optimizer.step();
  CHECK(p.item<double>() == Approx(-0.05).epsilon(1e-14));
}

TEST_CASE("Adam's weight decay enters the gradient; AdamW's shrinks the parameter", "[optim][adam]") {
  const double lr = 0.1, wd = 0.5;
  SECTION("Adam: with grad 0, g = wd p still moves p by about lr * sign(p)") {
    Tensor p = param({2, -4}, tg::kFloat64);
    tg::Adam optimizer({p}, lr, {0.9, 0.999}, 1e-8, wd);
    p.set_grad(vec({0, 0}, tg::kFloat64));
    optimizer.step();
    CHECK(tg::test::allclose(p, vec({1.9, -3.9}, tg::kFloat64), 1e-8, 0));
  }
  SECTION("AdamW: with grad 0, m stays 0 and p only shrinks by (1 - lr wd) per step") {
    Tensor p = param({2, -4}, tg::kFloat64);
    tg::AdamW optimizer({p}, lr, {0.9, 0.999}, 1e-8, wd);
    p.set_grad(vec({0, 0}, tg::kFloat64));
    for (int t = 1; t <= 3; ++t) optimizer.step();
    const double shrink = std::pow(1 - lr * wd, 3);
    CHECK(tg::test::allclose(p, vec({2 * shrink, -4 * shrink}, tg::kFloat64), 1e-14, 0));
  }
}

TEST_CASE("Adam and AdamW match the documented rule over many steps and settings", "[optim][adam]") {
  struct Setting {
    double lr, beta1, beta2, eps, weight_decay;
    bool amsgrad, decoupled;
  };
  const std::vector<Setting> settings{
      {0.1, 0.9, 0.999, 1e-8, 0, false, false}, {0.05, 0.5, 0.5, 1e-8, 0, true, false},
      {0.05, 0, 0.5, 1e-3, 0.1, true, false},   {0.2, 0.8, 0.99, 1e-8, 0.3, false, true},
      {0.01, 0.5, 0.5, 0.1, 0.05, true, true},
  };
  const std::vector<double> p0{0.5, -1.5, 2.0};
  // Large then small gradients, so that v falls and amsgrad's v_max differs from it.
  const std::vector<std::vector<double>> grads{{1, -3, 0.5}, {0.2, 0.3, -0.7}, {-0.1, 0, 0.05}, {0.4, 0.4, 0.4}};
  for (std::size_t s = 0; s < settings.size(); ++s) {
    const Setting& c = settings[s];
    INFO("setting " << s);
    Tensor p = param(p0, tg::kFloat64);
    std::unique_ptr<tg::Adam> optimizer;
    if (c.decoupled)
      optimizer = std::make_unique<tg::AdamW>(std::vector{p}, c.lr, std::array{c.beta1, c.beta2}, c.eps, c.weight_decay,
                                              c.amsgrad);
    else
      optimizer = std::make_unique<tg::Adam>(std::vector{p}, c.lr, std::array{c.beta1, c.beta2}, c.eps, c.weight_decay,
                                             c.amsgrad);
    std::vector<ScalarAdam> reference;
    for (double v : p0) reference.push_back({c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, c.amsgrad, c.decoupled, v});
    for (std::size_t t = 0; t < grads.size(); ++t) {
      INFO("step " << t + 1);
      p.set_grad(vec(grads[t], tg::kFloat64));
      optimizer->step();
      std::vector<double> expected;
      for (std::size_t i = 0; i < reference.size(); ++i) {
        reference[i].step(grads[t][i]);
        expected.push_back(reference[i].p);
      }
      CHECK(tg::test::allclose(p, vec(expected, tg::kFloat64), 1e-12, 1e-14));
    }
  }
}

TEST_CASE("Adam counts steps per parameter and skips parameters without grad", "[optim][adam]") {
  const double lr = 0.1;
  Tensor a = param({1}, tg::kFloat64), b = param({10}, tg::kFloat64), idle = param({7}, tg::kFloat64);
  tg::Adam optimizer({a, b, idle}, lr);
  a.set_grad(vec({2}, tg::kFloat64));
  optimizer.step();  // b and idle have no gradient yet
  b.set_grad(vec({-3}, tg::kFloat64));
  optimizer.step();
  // b's first step is a first step (t = 1): exactly lr * sign(g), whatever a's count is.
  CHECK(b.item<double>() == Approx(10 + lr).epsilon(1e-8));
  CHECK(a.item<double>() == Approx(1 - 2 * lr).epsilon(1e-8));
  CHECK(idle.item<double>() == 7);
  const State state = optimizer.state_dict();
  CHECK(tg::test::entry(state, "state.0.step").item<double>() == 2);
  CHECK(tg::test::entry(state, "state.1.step").item<double>() == 1);
  CHECK_FALSE(tg::test::entry(state, "state.2.step").defined());
  CHECK(tg::test::entry(state, "lr").item<double>() == lr);
  CHECK(state.size() == 7);  // lr + 3 entries for each of a and b
}

TEST_CASE("Adam steps without recording and keeps its parameters leaves", "[optim][adam]") {
  tg::Generator gen(3);
  tg::Linear fc(3, 2, true, gen);
  tg::AdamW optimizer(fc.parameters(), 0.01, {0.9, 0.999}, 1e-8, 0.01, true);
  for (int i = 0; i < 3; ++i) {
    optimizer.zero_grad();
    fc(tg::randn({4, 3}, gen)).square().sum().backward();
    const Tensor before = fc.weight.detach().clone();
    const std::size_t tape_size = tg::Tape::current().size();
    optimizer.step();
    CHECK(tg::Tape::current().size() == tape_size);
    CHECK_FALSE(tg::test::allclose(fc.weight, before, 0, 0));
    CHECK(tg::is_grad_enabled());
    for (const Tensor& p : fc.parameters()) CHECK((p.is_leaf() && p.requires_grad()));
  }
}

TEST_CASE("Adam and AdamW reject invalid hyperparameters, naming the value", "[optim][adam]") {
  Tensor p = param({1});
  const double nan = std::numeric_limits<double>::quiet_NaN();
  using tg::test::MessageContains;
  CHECK_THROWS_MATCHES(tg::Adam({p}, -0.5), tg::ValueError, MessageContains({"Adam", "learning rate", "-0.5"}));
  CHECK_THROWS_AS(tg::Adam({p}, nan), tg::ValueError);
  CHECK_THROWS_MATCHES(tg::Adam({p}, 1e-3, {1.0, 0.999}), tg::ValueError, MessageContains({"beta", "1", "index 0"}));
  CHECK_THROWS_MATCHES(tg::Adam({p}, 1e-3, {0.9, -0.25}), tg::ValueError, MessageContains({"-0.25", "index 1"}));
  CHECK_THROWS_AS(tg::Adam({p}, 1e-3, {0.9, nan}), tg::ValueError);
  CHECK_THROWS_MATCHES(tg::Adam({p}, 1e-3, {0.9, 0.999}, -1e-8), tg::ValueError, MessageContains({"eps", "-1e-08"}));
  CHECK_THROWS_MATCHES(tg::Adam({p}, 1e-3, {0.9, 0.999}, 1e-8, -0.125), tg::ValueError,
                       MessageContains({"weight_decay", "-0.125"}));
  CHECK_THROWS_MATCHES(tg::AdamW({p}, 1e-3, {0.9, 0.999}, 1e-8, nan), tg::ValueError,
                       MessageContains({"AdamW", "weight_decay"}));
  CHECK_THROWS_AS(tg::AdamW({}), tg::ValueError);
  CHECK_THROWS_MATCHES(tg::AdamW({p, tg::ones({2})}), tg::ValueError, MessageContains({"AdamW", "requires_grad_()"}));
  // The boundaries are fine: beta 0, eps 0, lr 0.
  tg::Adam still({p}, 0, {0, 0}, 0);
  p.set_grad(vec({3}));
  still.step();
  CHECK(p.item<double>() == 1);
}
