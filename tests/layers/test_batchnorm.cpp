// SPDX-License-Identifier: MIT
// BatchNorm1D and BatchNorm2D: PyTorch's parameters and buffers, train/eval behaviour, and the
// running statistics of nn.BatchNorm (scripts/fixtures/normalization.py).
#include <memory>
#include <string>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/layers/batchnorm.hpp"
#include "tapegrad/layers/sequential.hpp"

using tg::Tensor;
using tg::test::allclose;
using tg::test::MessageContains;

namespace {

Tensor load(const std::string& name) { return tg::load_npy(tg::test::fixture("torch/normalization/" + name + ".npy")); }

// t[i] of a fixture whose first dim indexes training steps.
Tensor step(const Tensor& t, std::int64_t i) { return tg::test::index0(t, i); }

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::vector<std::string> names;
  for (const auto& [name, _] : named) names.push_back(name);
  return names;
}

// Runs a layer through the fixture case `name`: 3 training steps, then eval, checking the
// outputs, gradients, running statistics and step count against torch's.
void check_against_torch(tg::BatchNorm& bn, const std::string& name, bool affine) {
  if (affine) {
    tg::NoGradGuard no_grad;
    bn.weight.copy_(load(name + "_weight"));
    bn.bias.copy_(load(name + "_bias"));
  }
  Tensor xs = load(name + "_train_x"), Gs = load(name + "_train_G");
  bn.train();
  for (int i = 0; i < 3; ++i) {
    INFO(name << " training step " << i);
    bn.zero_grad();
    Tensor x = step(xs, i).requires_grad_();
    Tensor y = bn(x);
    CHECK(allclose(y, step(load(name + "_train_y"), i), 1e-5, 1e-5));
    (y * step(Gs, i)).sum().backward();
    CHECK(allclose(x.grad(), step(load(name + "_train_dx"), i), 1e-4, 1e-5));
    if (affine) {
      CHECK(allclose(bn.weight.grad(), step(load(name + "_train_dweight"), i), 1e-4, 1e-5));
      CHECK(allclose(bn.bias.grad(), step(load(name + "_train_dbias"), i), 1e-5, 1e-5));
    }
    CHECK(allclose(bn.running_mean, step(load(name + "_train_running_mean"), i), 1e-5, 1e-6));
    CHECK(allclose(bn.running_var, step(load(name + "_train_running_var"), i), 1e-5, 1e-6));
    CHECK(bn.num_batches_tracked.item() == i + 1);
  }
  bn.eval();
  Tensor running_mean = bn.running_mean.clone();
  Tensor x = load(name + "_eval_x").requires_grad_();
  Tensor y = bn(x);
  CHECK(allclose(y, load(name + "_eval_y"), 1e-5, 1e-5));
  (y * load(name + "_eval_G")).sum().backward();
  CHECK(allclose(x.grad(), load(name + "_eval_dx"), 1e-5, 1e-5));
  CHECK(allclose(bn.running_mean, running_mean, 0, 0));  // eval leaves the statistics alone
  CHECK(bn.num_batches_tracked.item() == 3);
}

}  // namespace

TEST_CASE("BatchNorm has PyTorch's parameters and buffers, in state_dict order", "[layers][batchnorm]") {
  tg::BatchNorm2D bn(3);
  CHECK(names_of(bn.state_dict()) ==
        std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"});
  CHECK(names_of(bn.named_parameters()) == std::vector<std::string>{"weight", "bias"});
  CHECK(allclose(bn.weight, tg::ones({3}), 0, 0));
  CHECK(allclose(bn.bias, tg::zeros({3}), 0, 0));
  CHECK(allclose(bn.running_mean, tg::zeros({3}), 0, 0));
  CHECK(allclose(bn.running_var, tg::ones({3}), 0, 0));
  CHECK(bn.num_batches_tracked.dim() == 0);  // torch's is a 0-d tensor too
  CHECK(bn.num_batches_tracked.item() == 0);
  CHECK_FALSE(bn.running_mean.requires_grad());
  CHECK(bn.eps == 1e-5);
  CHECK(bn.momentum == 0.1);

  tg::BatchNorm1D plain(4, 1e-3, 0.2, false);
  CHECK_FALSE(plain.weight.defined());
  CHECK(plain.parameters().empty());
  CHECK(names_of(plain.state_dict()) == std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"});
}

TEST_CASE("BatchNorm2D matches nn.BatchNorm2d over 3 training steps and in eval", "[layers][batchnorm][torch]") {
  tg::BatchNorm2D bn(3);
  check_against_torch(bn, "bn2d", true);
}

TEST_CASE("BatchNorm1D matches nn.BatchNorm1d, with and without affine", "[layers][batchnorm][torch]") {
  tg::BatchNorm1D bn(4, 1e-3, 0.3);
  check_against_torch(bn, "bn1d", true);
  tg::BatchNorm1D plain(3, 1e-5, 0.1, false);
  check_against_torch(plain, "bn1d_noaffine", false);
}

TEST_CASE("BatchNorm1D accepts [N, C, L]: statistics over N and L", "[layers][batchnorm]") {
  tg::BatchNorm1D bn(2, 0);
  Tensor x = Tensor{{{1, 3}, {0, 0}}, {{5, 7}, {2, 4}}};  // channel 0: {1, 3, 5, 7}, channel 1: {0, 0, 2, 4}
  Tensor y = bn(x);
  // channel 0: mean 4, var 5; channel 1: mean 1.5, var 2.75
  double s0 = std::sqrt(5.0), s1 = std::sqrt(2.75);
  CHECK(allclose(y, Tensor{{{-3 / s0, -1 / s0}, {-1.5 / s1, -1.5 / s1}}, {{1 / s0, 3 / s0}, {0.5 / s1, 2.5 / s1}}}));
  CHECK(allclose(bn.running_mean, Tensor{0.4, 0.15}));
  CHECK(allclose(bn.running_var, Tensor{0.9 + 0.1 * 5 * 4 / 3, 0.9 + 0.1 * 2.75 * 4 / 3}));
}

TEST_CASE("BatchNorm follows train() and eval() of its parent", "[layers][batchnorm]") {
  auto bn = std::make_shared<tg::BatchNorm1D>(2);
  tg::Sequential net{bn};
  Tensor x = Tensor{{1, 2}, {3, 6}};
  net(x);
  CHECK(allclose(bn->running_mean, Tensor{0.2, 0.4}));
  net.eval();
  CHECK_FALSE(bn->is_training());
  Tensor y = net(x);  // eval: (x - running_mean) / sqrt(running_var + eps)
  CHECK(allclose(bn->running_mean, Tensor{0.2, 0.4}));
  CHECK(bn->num_batches_tracked.item() == 1);
  CHECK(allclose(y.reshape({4}), Tensor{0.8 / std::sqrt(1.1 + 1e-5), 1.6 / std::sqrt(1.7 + 1e-5),
                                        2.8 / std::sqrt(1.1 + 1e-5), 5.6 / std::sqrt(1.7 + 1e-5)}));
  CHECK_NOTHROW(net(Tensor{{1, 2}}));  // one sample is fine in eval mode
  net.train();
  CHECK_THROWS_MATCHES(net(Tensor{{1, 2}}), tg::ValueError, MessageContains({"more than 1 value per channel"}));
  CHECK(bn->num_batches_tracked.item() == 1);  // a rejected batch is not counted
}

TEST_CASE("BatchNorm rejects wrong ranks, channel counts and settings", "[layers][batchnorm][errors]") {
  tg::BatchNorm2D bn2(3);
  tg::BatchNorm1D bn1(3);
  CHECK_THROWS_MATCHES(bn2(tg::ones({2, 3})), tg::ShapeError, MessageContains({"BatchNorm2D", "4-D", "[2, 3]"}));
  CHECK_THROWS_MATCHES(bn1(tg::ones({2, 3, 2, 2})), tg::ShapeError,
                       MessageContains({"BatchNorm1D", "[N, C]", "[2, 3, 2, 2]"}));
  CHECK_THROWS_MATCHES(bn2(tg::ones({2, 4, 2, 2})), tg::ShapeError,
                       MessageContains({"BatchNorm2D", "[2, 4, 2, 2]", "num_features = 3"}));
  CHECK_THROWS_MATCHES(tg::BatchNorm1D(0), tg::ValueError, MessageContains({"BatchNorm1D", "num_features"}));
  CHECK_THROWS_MATCHES(tg::BatchNorm2D(3, -1), tg::ValueError, MessageContains({"BatchNorm2D", "eps"}));
  CHECK_THROWS_MATCHES(tg::BatchNorm2D(3, 1e-5, 1.5), tg::ValueError, MessageContains({"BatchNorm2D", "momentum"}));
}
