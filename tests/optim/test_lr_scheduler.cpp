// SPDX-License-Identifier: MIT
// StepLR and CosineAnnealingLR: torch's learning rates epoch by epoch, the closed forms, and
// their effect on the optimizer's steps.
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "optim/optim_test_util.hpp"
#include "tapegrad/optim/adam.hpp"
#include "tapegrad/optim/lr_scheduler.hpp"

using tg::Tensor;
using tg::test::param;
using tg::test::vec;

namespace {

std::vector<double> torch_lrs(const std::string& name) {
  return tg::load_npy(tg::test::fixture("torch/adam/" + name + "_lr.npy")).tolist();
}

// get_last_lr() at construction and after each of `epochs` scheduler steps, with one
// optimizer step per epoch as in training.
template <class Scheduler>
std::vector<double> run(tg::Optimizer& optimizer, Scheduler& scheduler, int epochs) {
  std::vector<double> lrs{scheduler.get_last_lr()};
  for (int e = 0; e < epochs; ++e) {
    Tensor p = optimizer.params()[0];
    p.set_grad(tg::ones({1}));
    optimizer.step();
    scheduler.step();
    CHECK(optimizer.lr() == scheduler.get_last_lr());
    lrs.push_back(scheduler.get_last_lr());
  }
  return lrs;
}

bool close(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && tg::test::allclose(vec(a, tg::kFloat64), vec(b, tg::kFloat64), 1e-6, 1e-9);
}

}  // namespace

TEST_CASE("StepLR and CosineAnnealingLR match torch's learning rates over 12 epochs", "[optim][lr]") {
  Tensor p = param({0});
  {
    tg::SGD optimizer({p}, 0.1);
    tg::StepLR scheduler(optimizer, 3, 0.5);
    const auto lrs = run(optimizer, scheduler, 12);
    INFO(fmt::format("{}", fmt::join(lrs, ", ")));
    CHECK(close(lrs, torch_lrs("steplr")));
  }
  {
    tg::SGD optimizer({p}, 0.1);
    tg::CosineAnnealingLR scheduler(optimizer, 5, 0.01);  // past T_max, the cosine climbs back
    const auto lrs = run(optimizer, scheduler, 12);
    INFO(fmt::format("{}", fmt::join(lrs, ", ")));
    CHECK(close(lrs, torch_lrs("cosine")));
  }
  {
    tg::Adam optimizer({p}, 0.1);  // any optimizer: the lr lives in the base class
    tg::CosineAnnealingLR scheduler(optimizer, 12);
    const auto lrs = run(optimizer, scheduler, 12);
    INFO(fmt::format("{}", fmt::join(lrs, ", ")));
    CHECK(close(lrs, torch_lrs("cosine_long")));
  }
}

TEST_CASE("StepLR multiplies the lr by gamma every step_size epochs", "[optim][lr]") {
  Tensor p = param({0});
  tg::SGD optimizer({p}, 2.0);
  tg::StepLR scheduler(optimizer, 2);  // gamma defaults to 0.1
  CHECK(scheduler.base_lr() == 2.0);
  CHECK(scheduler.last_epoch() == 0);
  const auto lrs = run(optimizer, scheduler, 5);
  CHECK(close(lrs, {2, 2, 0.2, 0.2, 0.02, 0.02}));
  CHECK(scheduler.last_epoch() == 5);
}

TEST_CASE("CosineAnnealingLR reaches the midpoint at T_max / 2 and eta_min at T_max", "[optim][lr]") {
  Tensor p = param({0});
  tg::SGD optimizer({p}, 1.0);
  tg::CosineAnnealingLR scheduler(optimizer, 4, 0.2);
  const auto lrs = run(optimizer, scheduler, 8);
  const double quarter = 0.2 + 0.8 * (1 + std::cos(std::numbers::pi / 4)) / 2;
  const double three_quarters = 0.2 + 0.8 * (1 - std::cos(std::numbers::pi / 4)) / 2;
  CHECK(close(lrs, {1, quarter, 0.6, three_quarters, 0.2, three_quarters, 0.6, quarter, 1}));
}

TEST_CASE("a schedule changes the steps its optimizer takes", "[optim][lr]") {
  // SGD with grad 1: each epoch's step moves p by exactly that epoch's lr.
  Tensor p = param({0}, tg::kFloat64);
  tg::SGD optimizer({p}, 1.0);
  tg::StepLR scheduler(optimizer, 1, 0.5);
  double expected = 0;
  for (int e = 0; e < 4; ++e) {
    expected -= std::pow(0.5, e);
    p.set_grad(vec({1}, tg::kFloat64));
    optimizer.step();
    scheduler.step();
    CHECK(p.item<double>() == expected);
  }
  CHECK(p.item<double>() == -1.875);
}

TEST_CASE("schedules reject invalid arguments, naming the value", "[optim][lr]") {
  Tensor p = param({0});
  tg::SGD optimizer({p}, 0.1);
  using tg::test::MessageContains;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_MATCHES(tg::StepLR(optimizer, 0), tg::ValueError, MessageContains({"StepLR", "step_size 0"}));
  CHECK_THROWS_MATCHES(tg::StepLR(optimizer, 2, -0.5), tg::ValueError, MessageContains({"StepLR", "gamma -0.5"}));
  CHECK_THROWS_AS(tg::StepLR(optimizer, 2, nan), tg::ValueError);
  CHECK_THROWS_MATCHES(tg::CosineAnnealingLR(optimizer, -3), tg::ValueError,
                       MessageContains({"CosineAnnealingLR", "T_max -3"}));
  CHECK_THROWS_MATCHES(tg::CosineAnnealingLR(optimizer, 10, -1e-3), tg::ValueError,
                       MessageContains({"eta_min -0.001"}));
  CHECK(optimizer.lr() == 0.1);  // a rejected schedule leaves the lr alone
}
