// SPDX-License-Identifier: MIT
// Dropout: tg::dropout in training mode, the identity in eval mode.
#include <memory>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/layers/dropout.hpp"
#include "tapegrad/layers/sequential.hpp"
#include "tapegrad/ops/normalization.hpp"

using tg::Tensor;
using tg::test::allclose;

TEST_CASE("Dropout zeroes about p of the inputs in training and none in eval", "[layers][dropout]") {
  tg::Generator gen(21);
  tg::Dropout drop(0.3, gen);
  CHECK(drop.p() == 0.3);
  CHECK(drop.parameters().empty());
  CHECK(drop.state_dict().empty());
  Tensor x = tg::ones({20000});
  Tensor y = drop(x);
  double zeros = 0;
  for (double v : y.tolist()) {
    zeros += v == 0;
    if (v != 0) REQUIRE(v == Approx(1 / 0.7).epsilon(1e-6));
  }
  CHECK(zeros / 20000 == Approx(0.3).margin(0.02));  // the fraction's std is 0.0032

  drop.eval();
  CHECK(drop(x).impl_ptr() == x.impl_ptr());
  drop.train();
  CHECK_FALSE(allclose(drop(x), x, 0, 0));
}

TEST_CASE("Dropout draws its masks from its generator", "[layers][dropout]") {
  tg::Generator a(5), b(5);
  tg::Dropout da(0.5, a), db(0.5, b);
  Tensor x = tg::ones({500});
  Tensor first = da(x);
  CHECK(allclose(first, db(x), 0, 0));
  CHECK_FALSE(allclose(first, da(x), 0, 0));  // a new mask on every call

  tg::manual_seed(17);
  Tensor with_default = tg::Dropout(0.5)(x);
  tg::Generator reference(17);
  CHECK(allclose(with_default, tg::dropout(x, 0.5, true, reference), 0, 0));
}

TEST_CASE("Dropout's gradient uses the mask of the forward pass", "[layers][dropout]") {
  tg::Generator gen(6);
  tg::Dropout drop(0.5, gen);
  Tensor x = tg::ones({100}, {.requires_grad = true});
  Tensor y = drop(x);
  y.sum().backward();
  CHECK(allclose(x.grad(), y.detach(), 0, 0));  // dx = mask / (1 - p) = y for x = 1
}

TEST_CASE("Sequential's eval() reaches a Dropout inside it", "[layers][dropout]") {
  tg::Generator gen(7);
  auto drop = std::make_shared<tg::Dropout>(0.9, gen);
  tg::Sequential net{drop};
  Tensor x = tg::ones({50});
  net.eval();
  CHECK_FALSE(drop->is_training());
  CHECK(allclose(net(x), x, 0, 0));
  net.train();
  CHECK(drop->is_training());
  CHECK_FALSE(allclose(net(x), x, 0, 0));
}

TEST_CASE("Dropout rejects p outside [0, 1]", "[layers][dropout][errors]") {
  CHECK_THROWS_MATCHES(tg::Dropout(1.2), tg::ValueError, tg::test::MessageContains({"Dropout", "[0, 1]", "1.2"}));
  CHECK_THROWS_AS(tg::Dropout(-0.5), tg::ValueError);
  CHECK_NOTHROW(tg::Dropout(0));
  CHECK_NOTHROW(tg::Dropout(1));
}
