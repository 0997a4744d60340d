// SPDX-License-Identifier: MIT
// ReLU, Sigmoid and Tanh modules: parameter-free wrappers of the elementwise ops.
#include <cmath>
#include <memory>

#include "tapegrad/layers/activation.hpp"
#include "test_util.hpp"

using tg::Tensor;
using tg::test::allclose;

TEST_CASE("activation modules compute relu, sigmoid and tanh and have no parameters", "[layers][activation]") {
  Tensor x = Tensor{-2, 0.5, 3};
  tg::ReLU relu;
  tg::Sigmoid sigmoid;
  tg::Tanh tanh;
  CHECK(allclose(relu(x), Tensor{0, 0.5, 3}, 0, 0));
  CHECK(allclose(sigmoid(x), Tensor{1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(-0.5)), 1 / (1 + std::exp(-3.0))}));
  CHECK(allclose(tanh(x), Tensor{std::tanh(-2.0), std::tanh(0.5), std::tanh(3.0)}));
  for (tg::Module* m : std::initializer_list<tg::Module*>{&relu, &sigmoid, &tanh}) {
    CHECK(m->parameters().empty());
    CHECK(m->state_dict().empty());
  }
}

TEST_CASE("activation modules pass gradients through, the same in train and eval mode", "[layers][activation]") {
  Tensor x = Tensor{-1, 2}.requires_grad_();
  tg::Tanh tanh;
  tg::ReLU relu;
  relu.eval();
  tanh.eval();
  (relu(x) + tanh(x)).sum().backward();
  double t = std::tanh(2.0);
  CHECK(allclose(x.grad(), Tensor{1 - std::tanh(-1.0) * std::tanh(-1.0), 1 + 1 - t * t}));
  tg::Sigmoid sigmoid;
  Tensor y = sigmoid(x);
  sigmoid.eval();
  CHECK(allclose(sigmoid(x), y, 0, 0));
}
