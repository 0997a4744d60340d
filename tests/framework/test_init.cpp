// SPDX-License-Identifier: MIT
// Initialisers (init.cpp): PyTorch's fan rules, bounds, empirical standard deviations.
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/init.hpp"

using tg::Tensor;
using tg::test::MessageContains;
using tg::test::Stats;
using tg::test::stats_of;

TEST_CASE("fan_in_and_fan_out follows PyTorch for Linear and conv weights", "[init]") {
  auto fans = [](const tg::Shape& shape) { return tg::fan_in_and_fan_out(tg::zeros(shape)); };
  CHECK(fans({5, 3}).fan_in == 3);  // Linear(3, 5): weight [out, in]
  CHECK(fans({5, 3}).fan_out == 5);
  CHECK(fans({6, 2, 5, 5}).fan_in == 2 * 25);   // conv [O, C, kh, kw]: fan_in = C kh kw
  CHECK(fans({6, 2, 5, 5}).fan_out == 6 * 25);  //                      fan_out = O kh kw
  CHECK(fans({4, 3, 7}).fan_in == 21);
  CHECK(fans({4, 3, 7}).fan_out == 28);
}

TEST_CASE("initialisers need at least 2 dims", "[init][errors]") {
  tg::Generator gen(1);
  Tensor vector = tg::zeros({4}), scalar = tg::scalar(0);
  CHECK_THROWS_MATCHES(tg::fan_in_and_fan_out(vector), tg::ShapeError,
                       MessageContains({"init", "fewer than 2", "[4]"}));
  CHECK_THROWS_AS(tg::fan_in_and_fan_out(scalar), tg::ShapeError);
  CHECK_THROWS_AS(tg::xavier_uniform_(vector, gen), tg::ShapeError);
  CHECK_THROWS_AS(tg::xavier_normal_(vector, gen), tg::ShapeError);
  CHECK_THROWS_AS(tg::kaiming_uniform_(vector, gen), tg::ShapeError);
  CHECK_THROWS_AS(tg::kaiming_normal_(scalar, gen), tg::ShapeError);
  CHECK(tg::test::allclose(vector, tg::zeros({4}), 0, 0));
}

TEST_CASE("xavier_uniform_ and kaiming_uniform_ stay within their bounds and fill them", "[init]") {
  tg::Generator gen(2);
  Tensor linear = tg::zeros({200, 300}), conv = tg::zeros({64, 16, 5, 5});
  struct Case {
    Tensor* t;
    std::function<void(Tensor&)> init;
    double bound;
  };
  const std::vector<Case> cases = {
      {&linear, [&](Tensor& t) { tg::xavier_uniform_(t, gen); }, std::sqrt(6.0 / 500)},
      {&linear, [&](Tensor& t) { tg::xavier_uniform_(t, gen, 2); }, 2 * std::sqrt(6.0 / 500)},
      {&conv, [&](Tensor& t) { tg::xavier_uniform_(t, gen); }, std::sqrt(6.0 / (400 + 1600))},
      {&linear, [&](Tensor& t) { tg::kaiming_uniform_(t, gen); }, std::sqrt(6.0 / 300)},
      {&conv, [&](Tensor& t) { tg::kaiming_uniform_(t, gen); }, std::sqrt(6.0 / 400)},
      {&conv, [&](Tensor& t) { tg::kaiming_uniform_(t, gen, 0, tg::FanMode::FanOut); }, std::sqrt(6.0 / 1600)},
      // a = sqrt(5) is nn.Linear's default: bound = 1 / sqrt(fan_in).
      {&linear, [&](Tensor& t) { tg::kaiming_uniform_(t, gen, std::sqrt(5.0)); }, 1 / std::sqrt(300.0)},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i);
    cases[i].init(*cases[i].t);
    Stats s = stats_of(*cases[i].t);
    double bound = cases[i].bound;
    CHECK(s.min >= -bound);
    CHECK(s.max <= bound);
    CHECK(s.min < -0.99 * bound);  // 60000 or more samples reach the ends of the interval
    CHECK(s.max > 0.99 * bound);
    CHECK(s.std == Approx(bound / std::sqrt(3.0)).epsilon(0.02));  // U(-a, a) has std a / sqrt(3)
  }
}

TEST_CASE("xavier_normal_ and kaiming_normal_ have the documented standard deviations", "[init]") {
  tg::Generator gen(3);
  Tensor linear = tg::zeros({200, 300}), conv = tg::zeros({64, 16, 5, 5}, {.dtype = tg::kFloat64});
  struct Case {
    Tensor* t;
    std::function<void(Tensor&)> init;
    double std;
  };
  const std::vector<Case> cases = {
      {&linear, [&](Tensor& t) { tg::xavier_normal_(t, gen); }, std::sqrt(2.0 / 500)},
      {&conv, [&](Tensor& t) { tg::xavier_normal_(t, gen, 0.5); }, 0.5 * std::sqrt(2.0 / 2000)},
      {&linear, [&](Tensor& t) { tg::kaiming_normal_(t, gen); }, std::sqrt(2.0 / 300)},
      {&conv, [&](Tensor& t) { tg::kaiming_normal_(t, gen, 0.1); }, std::sqrt(2.0 / 1.01 / 400)},
      {&conv, [&](Tensor& t) { tg::kaiming_normal_(t, gen, 0, tg::FanMode::FanOut); }, std::sqrt(2.0 / 1600)},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i);
    cases[i].init(*cases[i].t);
    Stats s = stats_of(*cases[i].t);
    CHECK(s.std == Approx(cases[i].std).epsilon(0.02));
    CHECK(s.mean == Approx(0).margin(0.02 * cases[i].std));
    CHECK(s.max > 3 * cases[i].std);  // normal, not uniform: tails beyond sqrt(3) std
  }
}

TEST_CASE("initialisers write parameters in place, unrecorded and reproducibly", "[init]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor w = tg::zeros({8, 4}, {.requires_grad = true});
  auto impl = w.impl_ptr();
  tg::Generator gen(4), same(4);
  Tensor& returned = tg::kaiming_uniform_(w, gen);  // grad mode is on: the write must still work
  CHECK(&returned == &w);
  CHECK(w.impl_ptr() == impl);
  CHECK(w.requires_grad());
  CHECK(w.is_leaf());
  CHECK(tape.size() == 0);
  CHECK(tg::is_grad_enabled());
  Tensor v = tg::zeros({8, 4});
  tg::kaiming_uniform_(v, same);
  CHECK(tg::test::allclose(w, v, 0, 0));
  CHECK_FALSE(tg::test::allclose(w, tg::kaiming_uniform_(v, same), 0, 0));
}
