// SPDX-License-Identifier: MIT
// tapegrad against PyTorch: forward values, gradients, SGD trajectories and the seed
// experiment, compared with the values PyTorch computed for the same inputs. The values are
// the .npy files in tests/fixtures/torch/, written by scripts/make_fixtures.py (see there
// for what each file holds); these tests only read them and never need torch.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "test_util.hpp"

using tg::Tensor;

namespace {

// float32 on both sides, with different summation orders and vectorised exp/log/tanh:
// agreement to a few ulps, plus an absolute floor for results that cancel to near zero.
constexpr double kRtol = 1e-5;
constexpr double kAtol = 1e-6;

Tensor load(const std::string& name) { return tg::load_npy(tg::test::fixture("torch/" + name + ".npy")); }

// A loaded input, as a leaf that collects gradients.
Tensor load_leaf(const std::string& name) { return load(name).requires_grad_(); }

// Fails, naming the fixture and printing both tensors, unless `got` matches torch's value.
void check_matches(const Tensor& got, const std::string& name, double rtol = kRtol, double atol = kAtol) {
  Tensor expected = load(name);
  INFO(name);
  REQUIRE(got.defined());
  INFO("tapegrad: " << tg::to_string(got) << "\ntorch:    " << tg::to_string(expected));
  CHECK(got.dtype() == tg::kFloat32);
  CHECK(tg::test::allclose(got, expected, rtol, atol));
}

// t[i] for a tensor whose first dim indexes steps: [5, 2, 3] -> [2, 3].
Tensor step_slice(const Tensor& t, std::int64_t i) {
  Tensor out = tg::empty(t.shape().without(0));
  const float* first = t.data<float>() + i * out.numel();
  std::copy(first, first + out.numel(), out.data<float>());
  return out;
}

// Runs y = f(a, b), backpropagates (y * G).sum() and compares y, da and db with torch's.
void check_binary_case(const std::string& prefix, Tensor (*f)(const Tensor&, const Tensor&)) {
  Tensor a = load_leaf(prefix + "_a"), b = load_leaf(prefix + "_b");
  Tensor y = f(a, b);
  check_matches(y, prefix + "_y");
  (y * load(prefix + "_G")).sum().backward();
  check_matches(a.grad(), prefix + "_da");
  check_matches(b.grad(), prefix + "_db");
}

}  // namespace

TEST_CASE("corr2d matches torch's conv2d, forward and backward", "[torch]") {
  for (int i = 0; i < 5; ++i) {
    std::string prefix = fmt::format("corr2d_case{}", i);
    Tensor X = load_leaf(prefix + "_X"), K = load_leaf(prefix + "_K");
    Tensor Y = tg::corr2d(X, K);
    check_matches(Y, prefix + "_Y");
    Tensor G = load(prefix + "_G");
    (Y * G).sum().backward();
    check_matches(X.grad(), prefix + "_dX");
    check_matches(K.grad(), prefix + "_dK");
    // The named halves of the backward give the same numbers when called alone.
    check_matches(tg::corr2d_backward_input(G, K.detach()), prefix + "_dX");
    check_matches(tg::corr2d_backward_kernel(X.detach(), G), prefix + "_dK");
  }
}

TEST_CASE("broadcasting add, sub, mul and div match torch, gradients summed to the input shapes", "[torch]") {
  const std::vector<std::pair<std::string, Tensor (*)(const Tensor&, const Tensor&)>> ops = {
      {"add", tg::add}, {"sub", tg::sub}, {"mul", tg::mul}, {"div", tg::div}};
  for (const auto& [name, f] : ops)
    for (int i = 0; i < 5; ++i) check_binary_case(fmt::format("{}_case{}", name, i), f);
}

TEST_CASE("matmul matches torch.matmul: plain, batched, broadcast batch dims and vectors", "[torch]") {
  for (int i = 0; i < 7; ++i) check_binary_case(fmt::format("matmul_case{}", i), tg::matmul);
}

TEST_CASE("elementwise functions and reductions match torch", "[torch]") {
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> cases = {
      {"exp", [](const Tensor& x) { return x.exp(); }},
      {"log", [](const Tensor& x) { return x.log(); }},
      {"relu", [](const Tensor& x) { return x.relu(); }},
      {"sigmoid", [](const Tensor& x) { return x.sigmoid(); }},
      {"tanh", [](const Tensor& x) { return x.tanh(); }},
      {"pow3", [](const Tensor& x) { return x.pow(3); }},
      {"pow_half", [](const Tensor& x) { return x.pow(0.5); }},
      {"square", [](const Tensor& x) { return x.square(); }},
      {"sum_all", [](const Tensor& x) { return x.sum(); }},
      {"sum_dim1_keepdim", [](const Tensor& x) { return x.sum(1, true); }},
      {"sum_dim0", [](const Tensor& x) { return x.sum(0); }},
      {"sum_dim_neg1", [](const Tensor& x) { return x.sum(-1); }},
      {"mean_all", [](const Tensor& x) { return x.mean(); }},
      {"mean_dim1", [](const Tensor& x) { return x.mean(1); }},
      {"mean_dim0_keepdim", [](const Tensor& x) { return x.mean(0, true); }},
  };
  for (const auto& [name, f] : cases) {
    Tensor x = load_leaf(name + "_x");
    Tensor y = f(x);
    check_matches(y, name + "_y");
    (y * load(name + "_G")).sum().backward();
    check_matches(x.grad(), name + "_dx");
  }
}

TEST_CASE("SGD follows torch.optim.SGD's trajectories step by step", "[torch]") {
  struct Config {
    std::string name;
    double lr, momentum, dampening, weight_decay;
    bool nesterov;
  };
  const std::vector<Config> configs = {
      {"plain", 0.1, 0, 0, 0, false},
      {"momentum", 0.1, 0.9, 0, 0, false},
      {"dampening", 0.1, 0.9, 0.1, 0, false},
      {"nesterov", 0.1, 0.9, 0, 0, true},
      {"weight_decay", 0.1, 0.5, 0, 0.01, false},
  };
  Tensor grads = load("sgd_grads");  // [5, 2, 3]
  for (const Config& c : configs) {
    INFO("config " << c.name);
    Tensor p = load_leaf("sgd_p0");
    Tensor expected = load(fmt::format("sgd_{}_params", c.name));  // p after each step
    REQUIRE(expected.shape() == grads.shape());
    tg::SGD optimizer({p}, c.lr, c.momentum, c.dampening, c.weight_decay, c.nesterov);
    for (std::int64_t step = 0; step < grads.size(0); ++step) {
      INFO("step " << step);
      p.set_grad(step_slice(grads, step));
      optimizer.step();
      Tensor want = step_slice(expected, step);
      INFO("tapegrad: " << tg::to_string(p) << "\ntorch:    " << tg::to_string(want));
      CHECK(tg::test::allclose(p, want, kRtol, kAtol));
    }
  }
}

TEST_CASE("the seed experiment reproduces torch's 20 losses and the learned kernel", "[torch][seed]") {
  Tensor X = load("seed_X"), Y = load("seed_Y");
  // The fixture is the notebook's picture: ones, with columns 2..5 black.
  Tensor edge = tg::ones({6, 8});
  edge.index_put_({tg::Slice(), tg::Slice(2, 6)}, 0);
  REQUIRE(tg::test::allclose(X, edge, 0, 0));
  check_matches(tg::corr2d(X, Tensor{{1.0, -1.0}}), "seed_Y");

  tg::Conv2D conv(tg::Shape{1, 2});
  {
    tg::NoGradGuard no_grad;
    conv.weight.copy_(load("seed_weight0"));
    conv.bias.copy_(load("seed_bias0"));
  }
  tg::SGD optimizer(conv.parameters(), 0.01);
  std::vector<double> losses;
  for (int step = 0; step < 20; ++step) {
    optimizer.zero_grad();
    Tensor loss = (conv(X) - Y).square().sum();
    loss.backward();
    optimizer.step();
    losses.push_back(loss.item<double>());
  }
  check_matches(tg::from_vector(losses, {20}), "seed_losses");
  check_matches(conv.weight, "seed_weight");
  check_matches(conv.bias, "seed_bias");
}
