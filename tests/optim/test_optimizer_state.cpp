// SPDX-License-Identifier: MIT
// Optimizer state for checkpoints: state_dict() names and copies, load_state_dict()'s
// checks, and runs resumed from a saved state that continue bit for bit.
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

bool close(const Tensor& a, const std::vector<double>& b) { return tg::test::allclose(a, vec(b), 1e-6, 1e-6); }

}  // namespace

TEST_CASE("SGD's state_dict holds lr and one momentum buffer per stepped parameter", "[optim]") {
  Tensor a = param({1, 2}), b = param({3});
  tg::SGD opt({a, b}, 0.1, 0.9);
  tg::test::State state = opt.state_dict();
  REQUIRE(state.size() == 1);  // nothing stepped yet
  CHECK(state[0].first == "lr");
  CHECK(state[0].second.dtype() == tg::kFloat64);
  CHECK(state[0].second.shape() == tg::Shape{1});
  CHECK(state[0].second.item<double>() == 0.1);

  a.set_grad(vec({1, -2}));
  opt.step();  // b has no gradient, so no buffer
  state = opt.state_dict();
  REQUIRE(state.size() == 2);
  CHECK(state[1].first == "state.0.momentum_buffer");
  CHECK(close(state[1].second, {1, -2}));
  opt.step();  // the saved buffer is a copy: it stays at step 1's value
  CHECK(close(state[1].second, {1, -2}));
  CHECK(close(tg::test::entry(opt.state_dict(), "state.0.momentum_buffer"), {1.9, -3.8}));

  // Without momentum there is no state but the lr, and a buffer in the state is refused.
  tg::SGD plain({a, b}, 0.1);
  a.set_grad(vec({1, 1}));
  plain.step();
  CHECK(plain.state_dict().size() == 1);
  CHECK_THROWS_MATCHES(plain.load_state_dict(opt.state_dict()), tg::ValueError,
                       tg::test::MessageContains({"state.0.momentum_buffer"}));
}

TEST_CASE("SGD resumed from its state_dict continues bit for bit", "[optim]") {
  tg::test::check_resume_is_exact(
      [](std::vector<Tensor> params) { return std::make_unique<tg::SGD>(std::move(params), 0.05, 0.9, 0.1, 0.01); });
  tg::test::check_resume_is_exact(
      [](std::vector<Tensor> params) { return std::make_unique<tg::SGD>(std::move(params), 0.05, 0.8, 0, 0, true); });
}

TEST_CASE("Adam and AdamW resumed from their state_dict continue bit for bit", "[optim][adam]") {
  tg::test::check_resume_is_exact(
      [](std::vector<Tensor> params) { return std::make_unique<tg::Adam>(std::move(params), 0.01); });
  tg::test::check_resume_is_exact([](std::vector<Tensor> params) {
    return std::make_unique<tg::Adam>(std::move(params), 0.01, std::array{0.8, 0.99}, 1e-8, 0.1, true);
  });
  tg::test::check_resume_is_exact([](std::vector<Tensor> params) {
    return std::make_unique<tg::AdamW>(std::move(params), 0.01, std::array{0.9, 0.999}, 1e-8, 0.05, true);
  });
}

TEST_CASE("Adam's load_state_dict checks every entry first and changes nothing on a mismatch", "[optim][adam]") {
  Tensor a = param({1, 2, 3}), b = param({4, 5});
  tg::Adam optimizer({a, b}, 0.01, {0.9, 0.999}, 1e-8, 0, true);
  a.set_grad(vec({1, -1, 2}));
  b.set_grad(vec({0.5, 0.25}));
  optimizer.step();
  const State good = optimizer.state_dict();
  REQUIRE(good.size() == 9);  // lr + 4 entries for each parameter
  optimizer.step();
  const State before = optimizer.state_dict();

  // `good` with entry `key` replaced by t (or removed, if t is undefined), or with t added.
  auto with = [&](const std::string& key, const Tensor& t) {
    State out;
    bool found = false;
    for (const auto& [name, value] : good) {
      if (name != key) {
        out.emplace_back(name, value);
      } else {
        found = true;
        if (t.defined()) out.emplace_back(name, t);
      }
    }
    if (!found) out.emplace_back(key, t);
    return out;
  };
  using tg::test::MessageContains;
  const Tensor one = vec({1}, tg::kFloat64);
  CHECK_THROWS_MATCHES(optimizer.load_state_dict(with("state.1.exp_avg", tg::zeros({3}))), tg::ShapeError,
                       MessageContains({"state.1.exp_avg", "[3]", "[2]"}));
  CHECK_THROWS_MATCHES(optimizer.load_state_dict(with("state.0.step", tg::ones({1, 1}, {.dtype = tg::kFloat64}))),
                       tg::ShapeError, MessageContains({"state.0.step"}));
  CHECK_THROWS_MATCHES(optimizer.load_state_dict(with("state.0.momentum_buffer", tg::zeros({3}))), tg::ValueError,
                       MessageContains({"state.0.momentum_buffer", "exp_avg"}));
  CHECK_THROWS_MATCHES(optimizer.load_state_dict(with("state.2.step", one)), tg::ValueError,
                       MessageContains({"state.2.step", "2 parameters"}));
  CHECK_THROWS_MATCHES(optimizer.load_state_dict(with("exp_avg", tg::zeros({3}))), tg::ValueError,
                       MessageContains({"'exp_avg'", "state.<param index>.<name>"}));
  CHECK_THROWS_MATCHES(optimizer.load_state_dict(with("state.x.step", one)), tg::ValueError,
                       MessageContains({"state.x.step"}));
  CHECK_THROWS_MATCHES(optimizer.load_state_dict(with("state.1.max_exp_avg_sq", Tensor())), tg::ValueError,
                       MessageContains({"state.1.max_exp_avg_sq"}));
  CHECK_THROWS_MATCHES(optimizer.load_state_dict(with("lr", Tensor())), tg::ValueError, MessageContains({"'lr'"}));
  CHECK_THROWS_MATCHES(optimizer.load_state_dict(with("lr", vec({-1}, tg::kFloat64))), tg::ValueError,
                       MessageContains({"'lr'", "-1"}));
  CHECK_THROWS_MATCHES(optimizer.load_state_dict(with("state.0.step", vec({1.5}, tg::kFloat64))), tg::ValueError,
                       MessageContains({"state.0.step", "1.5"}));
  CHECK_THROWS_MATCHES(optimizer.load_state_dict(with("state.0.step", vec({0}, tg::kFloat64))), tg::ValueError,
                       MessageContains({"state.0.step"}));
  State twice = good;
  twice.push_back(good.back());
  CHECK_THROWS_MATCHES(optimizer.load_state_dict(twice), tg::ValueError, MessageContains({good.back().first, "twice"}));
  // An optimizer without amsgrad has no max_exp_avg_sq; one with it needs it.
  tg::Adam plain({a, b}, 0.01);
  CHECK_THROWS_MATCHES(plain.load_state_dict(good), tg::ValueError, MessageContains({"max_exp_avg_sq"}));
  CHECK(plain.state_dict().size() == 1);
  CHECK(tg::test::same_state(optimizer.state_dict(), before));

  // A good state loads, converting dtypes; parameters without entries start afresh.
  optimizer.load_state_dict(good);
  CHECK(tg::test::same_state(optimizer.state_dict(), good));
  State first_only;
  for (const auto& [name, t] : good)
    if (name.rfind("state.1.", 0) != 0) first_only.emplace_back(name, t);
  optimizer.load_state_dict(first_only);
  CHECK(tg::test::same_state(optimizer.state_dict(), first_only));
  State float32_step = with("state.0.step", tg::ones({1}));
  optimizer.load_state_dict(float32_step);
  CHECK(tg::test::entry(optimizer.state_dict(), "state.0.step").dtype() == tg::kFloat64);
}
