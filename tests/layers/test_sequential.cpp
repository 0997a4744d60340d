// SPDX-License-Identifier: MIT
// Sequential: children named "0", "1", ..., applied in order.
#include <memory>
#include <string>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/layers/activation.hpp"
#include "tapegrad/layers/batchnorm.hpp"
#include "tapegrad/layers/sequential.hpp"

using tg::Tensor;
using tg::test::allclose;

namespace {

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::vector<std::string> names;
  for (const auto& [name, _] : named) names.push_back(name);
  return names;
}

}  // namespace

TEST_CASE("Sequential names its children 0, 1, ... as nn.Sequential", "[layers][sequential]") {
  tg::Sequential net{std::make_shared<tg::Linear>(4, 3), std::make_shared<tg::ReLU>(),
                     std::make_shared<tg::BatchNorm1D>(3), std::make_shared<tg::Linear>(3, 2, false)};
  CHECK(net.size() == 4);
  CHECK(names_of(net.state_dict()) == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias",
                                                               "2.running_mean", "2.running_var",
                                                               "2.num_batches_tracked", "3.weight"});
  CHECK(net.parameters().size() == 5);
  auto linear = std::dynamic_pointer_cast<tg::Linear>(net[0]);
  REQUIRE(linear);
  CHECK(linear->weight.impl_ptr() == net.named_parameters()[0].second.impl_ptr());
  CHECK(std::dynamic_pointer_cast<tg::ReLU>(net[1]));
  CHECK_THROWS_MATCHES(net[4], tg::ValueError, tg::test::MessageContains({"Sequential", "4", "4 modules"}));

  net.push_back(std::make_shared<tg::Tanh>());
  CHECK(net.size() == 5);
  CHECK(std::dynamic_pointer_cast<tg::Tanh>(net[4]));
  CHECK_THROWS_MATCHES(net.push_back(nullptr), tg::ValueError, tg::test::MessageContains({"Sequential", "null"}));
  CHECK(net.size() == 5);
}

TEST_CASE("Sequential's forward is the composition of its modules", "[layers][sequential]") {
  tg::Generator gen(31);
  auto fc1 = std::make_shared<tg::Linear>(4, 6, true, gen);
  auto fc2 = std::make_shared<tg::Linear>(6, 2, true, gen);
  tg::Sequential net{fc1, std::make_shared<tg::ReLU>(), fc2};
  Tensor x = tg::randn({5, 4}, gen);
  Tensor manual = tg::matmul(tg::relu(tg::matmul(x, fc1->weight.t()) + fc1->bias), fc2->weight.t()) + fc2->bias;
  CHECK(allclose(net(x), manual, 0, 0));
  tg::Sequential empty;
  CHECK(empty(x).impl_ptr() == x.impl_ptr());
}

TEST_CASE("train() and eval() reach children of nested Sequentials", "[layers][sequential]") {
  auto bn = std::make_shared<tg::BatchNorm1D>(2);
  auto inner = std::make_shared<tg::Sequential>(std::initializer_list<std::shared_ptr<tg::Module>>{bn});
  tg::Sequential outer{std::make_shared<tg::ReLU>(), inner};
  CHECK(names_of(outer.state_dict())[0] == "1.0.weight");
  outer.eval();
  CHECK_FALSE(inner->is_training());
  CHECK_FALSE(bn->is_training());
  CHECK_FALSE(outer[0]->is_training());
  outer.train();
  CHECK(bn->is_training());
}

TEST_CASE("Sequential of Linear, Tanh and Linear trains with SGD", "[layers][sequential]") {
  tg::Generator gen(32);
  tg::Sequential net{std::make_shared<tg::Linear>(2, 16, true, gen), std::make_shared<tg::Tanh>(),
                     std::make_shared<tg::Linear>(16, 1, true, gen)};
  Tensor x = tg::rand({64, 2}, gen) * 2 - 1;
  // target y = x0 * x1: not linear, so the hidden layer has to learn something
  std::vector<double> xs = x.tolist(), target;
  for (std::size_t i = 0; i < 64; ++i) target.push_back(xs[2 * i] * xs[2 * i + 1]);
  Tensor y = tg::from_vector(target, {64, 1});
  tg::SGD sgd(net.parameters(), 0.2, 0.9);
  auto loss = [&] { return (net(x) - y).square().mean(); };
  double initial = loss().item<double>();
  for (int i = 0; i < 300; ++i) {
    sgd.zero_grad();
    Tensor l = loss();
    l.backward();
    sgd.step();
  }
  double final_loss = loss().item<double>();
  INFO("loss " << initial << " -> " << final_loss);
  CHECK(final_loss < 0.1 * initial);
}

TEST_CASE("Sequential takes its modules as separate arguments, so make_shared can build it", "[layers][sequential]") {
  tg::Generator gen(41);
  auto fc1 = std::make_shared<tg::Linear>(4, 8, true, gen);
  auto fc2 = std::make_shared<tg::Linear>(8, 2, true, gen);
  std::shared_ptr<tg::Module> act = std::make_shared<tg::ReLU>();  // a shared_ptr<Module> mixes in too
  auto net = std::make_shared<tg::Sequential>(fc1, act, std::make_shared<tg::BatchNorm1D>(8), fc2);
  REQUIRE(net->size() == 4);
  CHECK(net->named_children()[0].first == "0");
  CHECK(net->named_children()[3].first == "3");
  CHECK((*net)[0].get() == fc1.get());
  CHECK((*net)[1].get() == act.get());
  CHECK((*net)[3].get() == fc2.get());
  CHECK(names_of(net->named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias"});

  // The same modules through the brace form give the same names and the same function.
  tg::Sequential braced{fc1, act, (*net)[2], fc2};
  CHECK(names_of(braced.state_dict()) == names_of(net->state_dict()));
  net->eval();
  braced.eval();
  Tensor x = tg::randn({3, 4}, gen);
  CHECK(allclose((*net)(x), braced(x), 0, 0));

  tg::Sequential single(std::make_shared<tg::Tanh>());
  CHECK(single.size() == 1);
  CHECK(std::dynamic_pointer_cast<tg::Tanh>(single[0]));
  CHECK_THROWS_MATCHES(tg::Sequential(fc1, std::shared_ptr<tg::ReLU>()), tg::ValueError,
                       tg::test::MessageContains({"Sequential", "module 1 is null"}));
}
