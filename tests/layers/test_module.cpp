// SPDX-License-Identifier: MIT
// Module: named parameters and child modules, listed and cleared the way nn.Module does.
#include <memory>
#include <string>
#include <vector>

#include "test_util.hpp"

using tg::Tensor;

namespace {

// A small composite: one parameter of its own, then a Linear and a Conv2D child.
class Net : public tg::Module {
 public:
  Net() {
    scale = register_parameter("scale", tg::ones({1}));
    fc1 = register_module("fc1", std::make_shared<tg::Linear>(3, 2));
    conv = register_module("conv", std::make_shared<tg::Conv2D>(tg::Shape{2, 2}));
  }

  // A scalar that depends on every parameter.
  Tensor loss(const Tensor& x, const Tensor& image) const { return ((*fc1)(x)*scale).sum() + (*conv)(image).sum(); }

  Tensor scale;
  std::shared_ptr<tg::Linear> fc1;
  std::shared_ptr<tg::Conv2D> conv;
};

// Registers a child before its own parameter: its own parameters are still listed first.
class Outer : public tg::Module {
 public:
  Outer() {
    block = register_module("block", std::make_shared<Net>());
    gain = register_parameter("gain", tg::zeros({2}));
  }

  std::shared_ptr<Net> block;
  Tensor gain;
};

// Exposes the registration calls so that the tests can misuse them.
class Open : public tg::Module {
 public:
  using tg::Module::register_module;
  using tg::Module::register_parameter;
};

std::vector<std::string> names_of(const tg::Module& m) {
  std::vector<std::string> names;
  for (const auto& [name, p] : m.named_parameters()) names.push_back(name);
  return names;
}

// Runs one backward pass so that every parameter of `net` has a gradient.
void fill_grads(const Net& net) {
  tg::Generator gen(11);
  net.loss(tg::randn({4, 3}, gen), tg::randn({3, 3}, gen)).backward();
}

}  // namespace

TEST_CASE("Module lists parameters in registration order with dotted names", "[layers]") {
  Net net;
  CHECK(names_of(net) == std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "conv.weight", "conv.bias"});

  std::vector<Tensor> expected{net.scale, net.fc1->weight, net.fc1->bias, net.conv->weight, net.conv->bias};
  auto named = net.named_parameters();
  auto params = net.parameters();
  REQUIRE(named.size() == expected.size());
  REQUIRE(params.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("parameter " << i << " (" << named[i].first << ")");
    // The same handles as the layers' fields, not copies: an optimizer updates the model.
    CHECK(named[i].second.impl_ptr() == expected[i].impl_ptr());
    CHECK(params[i].impl_ptr() == expected[i].impl_ptr());
  }
}

TEST_CASE("Module lists its own parameters before its children's, recursively", "[layers]") {
  Outer outer;
  CHECK(names_of(outer) == std::vector<std::string>{"gain", "block.scale", "block.fc1.weight", "block.fc1.bias",
                                                    "block.conv.weight", "block.conv.bias"});
  CHECK(outer.parameters().front().impl_ptr() == outer.gain.impl_ptr());
  CHECK(outer.parameters().back().impl_ptr() == outer.block->conv->bias.impl_ptr());
  // The child still lists its parameters without the parent's prefix.
  CHECK(names_of(*outer.block) ==
        std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "conv.weight", "conv.bias"});
}

TEST_CASE("Module makes registered parameters leaves that require grad", "[layers]") {
  Open m;
  Tensor t = tg::from_vector({1, 2, 3}, {3});
  REQUIRE_FALSE(t.requires_grad());
  Tensor p = m.register_parameter("w", t);
  CHECK(p.requires_grad());
  CHECK(p.is_leaf());
  CHECK(t.requires_grad());  // the same tensor, not a copy
  CHECK(p.impl_ptr() == t.impl_ptr());
  CHECK(p.name() == "w");  // unnamed parameters take their registered name
  CHECK(tg::test::allclose(p, Tensor{1, 2, 3}, 0, 0));

  Tensor named = tg::zeros({2}).set_name("kept");
  m.register_parameter("v", named);
  CHECK(named.name() == "kept");

  Net net;
  for (const auto& [name, param] : net.named_parameters()) {
    INFO(name);
    CHECK(param.requires_grad());
    CHECK(param.is_leaf());
  }
}

TEST_CASE("Module::zero_grad clears the gradients, or zeros them with set_to_none = false", "[layers]") {
  Net net;
  fill_grads(net);
  for (const auto& [name, p] : net.named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
    // Every gradient is non-zero, so zeroing is observable.
    double norm = 0;
    for (double g : p.grad().tolist()) norm += g * g;
    REQUIRE(norm > 0);
  }

  net.zero_grad(false);
  for (const auto& [name, p] : net.named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
    CHECK(tg::test::allclose(p.grad(), tg::zeros(p.shape()), 0, 0));
  }

  // A second backward accumulates into the zeroed gradients and gives the same values again.
  fill_grads(net);
  Tensor accumulated = net.fc1->weight.grad().clone();
  net.zero_grad(false);
  fill_grads(net);
  CHECK(tg::test::allclose(net.fc1->weight.grad(), accumulated, 1e-6, 1e-6));

  net.zero_grad();
  for (const auto& [name, p] : net.named_parameters()) {
    INFO(name);
    CHECK_FALSE(p.grad().defined());
  }

  // Zeroing a gradient that is not there leaves it undefined, as PyTorch does.
  net.zero_grad(false);
  for (const auto& [name, p] : net.named_parameters()) {
    INFO(name);
    CHECK_FALSE(p.grad().defined());
  }
}

TEST_CASE("Module rejects bad parameter names and non-leaf parameters", "[layers]") {
  Open m;
  m.register_parameter("w", tg::zeros({2}));

  CHECK_THROWS_AS(m.register_parameter("w", tg::zeros({3})), tg::ValueError);
  CHECK_THROWS_AS(m.register_parameter("a.b", tg::zeros({3})), tg::ValueError);
  CHECK_THROWS_AS(m.register_parameter("", tg::zeros({3})), tg::ValueError);
  CHECK_THROWS_WITH(m.register_parameter("w", tg::zeros({3})), Catch::Contains("'w'"));
  CHECK_THROWS_WITH(m.register_parameter("a.b", tg::zeros({3})), Catch::Contains("'a.b'"));

  Tensor computed = tg::ones({2}, {.requires_grad = true}) * 2.0;
  REQUIRE_FALSE(computed.is_leaf());
  CHECK_THROWS_AS(m.register_parameter("c", computed), tg::ValueError);
  CHECK_THROWS_WITH(m.register_parameter("c", computed), Catch::Contains("detach()"));

  // A failed registration adds nothing.
  CHECK(names_of(m) == std::vector<std::string>{"w"});
}

TEST_CASE("Module rejects bad child modules", "[layers]") {
  Open m;
  m.register_parameter("w", tg::zeros({2}));
  m.register_module("fc", std::make_shared<tg::Linear>(2, 2));

  CHECK_THROWS_AS(m.register_module("empty", std::shared_ptr<tg::Linear>()), tg::ValueError);
  CHECK_THROWS_WITH(m.register_module("empty", std::shared_ptr<tg::Linear>()), Catch::Contains("'empty'"));
  CHECK_THROWS_AS(m.register_module("a.b", std::make_shared<tg::Linear>(2, 2)), tg::ValueError);
  CHECK_THROWS_AS(m.register_module("", std::make_shared<tg::Linear>(2, 2)), tg::ValueError);
  // A second "fc" would list "fc.weight" twice; a child named like a parameter is ambiguous.
  CHECK_THROWS_AS(m.register_module("fc", std::make_shared<tg::Linear>(2, 2)), tg::ValueError);
  CHECK_THROWS_AS(m.register_module("w", std::make_shared<tg::Linear>(2, 2)), tg::ValueError);
  CHECK_THROWS_AS(m.register_parameter("fc", tg::zeros({2})), tg::ValueError);

  CHECK(names_of(m) == std::vector<std::string>{"w", "fc.weight", "fc.bias"});
}

namespace {

// A module with a parameter, a buffer and a child, to exercise state_dict and train/eval.
struct Stateful : tg::Module {
  Stateful() {
    scale = register_parameter("scale", tg::ones({2}));
    count = register_buffer("count", tg::zeros({1}));
    inner = register_module("inner", std::make_shared<tg::Linear>(2, 3));
  }
  tg::Tensor forward(const tg::Tensor& x) override { return (*inner)(x * scale); }
  tg::Tensor scale, count;
  std::shared_ptr<tg::Linear> inner;
};

}  // namespace

TEST_CASE("buffers are listed and saved but not trained", "[layers][module]") {
  Stateful m;
  auto buffers = m.named_buffers();
  REQUIRE(buffers.size() == 1);
  CHECK(buffers[0].first == "count");
  CHECK_FALSE(buffers[0].second.requires_grad());
  CHECK(m.parameters().size() == 3);  // scale, inner.weight, inner.bias
  std::vector<std::string> names;
  for (auto& [name, _] : m.state_dict()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"scale", "count", "inner.weight", "inner.bias"});
  auto register_twice = [] {
    struct Twice : tg::Module {
      Twice() {
        register_buffer("b", tg::zeros({1}));
        register_parameter("b", tg::zeros({1}));
      }
    };
    Twice t;
  };
  CHECK_THROWS_WITH(register_twice(), Catch::Contains("a buffer named 'b' is already registered"));
}

TEST_CASE("load_state_dict copies every tensor, or on any mismatch nothing", "[layers][module]") {
  Stateful a, b;
  a.count.fill_(7);
  b.load_state_dict(a.state_dict());
  for (std::size_t i = 0; i < a.state_dict().size(); ++i)
    CHECK(a.state_dict()[i].second.tolist() == b.state_dict()[i].second.tolist());
  CHECK(b.count.item() == 7);
  CHECK(b.scale.requires_grad());  // still a parameter after loading

  Stateful c;
  auto before = c.inner->weight.tolist();
  auto state = a.state_dict();
  state.back().second = tg::zeros({4});  // inner.bias with the wrong shape
  CHECK_THROWS_AS(c.load_state_dict(state), tg::ShapeError);
  CHECK(c.inner->weight.tolist() == before);  // untouched, although inner.weight came first
  state.pop_back();
  CHECK_THROWS_WITH(c.load_state_dict(state), Catch::Contains("has no 'inner.bias'"));
  state = a.state_dict();
  state.emplace_back("extra", tg::zeros({1}));
  CHECK_THROWS_WITH(c.load_state_dict(state), Catch::Contains("'extra', which the model does not have"));
}

TEST_CASE("train() and eval() reach every child; forward is virtual", "[layers][module]") {
  Stateful m;
  CHECK(m.is_training());
  m.eval();
  CHECK_FALSE(m.is_training());
  CHECK_FALSE(m.inner->is_training());
  m.train();
  CHECK(m.inner->is_training());
  tg::Module& base = m;
  CHECK(base(tg::ones({5, 2})).shape() == tg::Shape{5, 3});
  tg::Module plain;
  CHECK_THROWS_WITH(plain(tg::ones({1})), Catch::Contains("has no single-tensor forward(x)"));
}

TEST_CASE("Module::apply visits each child's subtree, then the module itself, as nn.Module.apply",
          "[layers][module][apply]") {
  Outer outer;  // Outer{block: Net{fc1: Linear, conv: Conv2D}}
  std::vector<const tg::Module*> visited;
  tg::Module& result = outer.apply([&](tg::Module& m) { visited.push_back(&m); });
  CHECK(&result == &outer);
  const std::vector<const tg::Module*> expected{outer.block->fc1.get(), outer.block->conv.get(), outer.block.get(),
                                                &outer};
  CHECK(visited == expected);

  // Nested Sequentials: post-order, children in registration order.
  auto a = std::make_shared<tg::Linear>(2, 2), b = std::make_shared<tg::Linear>(2, 2);
  auto c = std::make_shared<tg::Linear>(2, 2);
  auto inner = std::make_shared<tg::Sequential>(a, b);
  tg::Sequential net{inner, c};
  visited.clear();
  net.apply([&](tg::Module& m) { visited.push_back(&m); });
  CHECK(visited == std::vector<const tg::Module*>{a.get(), b.get(), inner.get(), c.get(), &net});

  // A module registered twice as a direct child is visited once, as PyTorch's children() lists it once.
  Open twice;
  twice.register_module("first", a);
  twice.register_module("second", a);
  visited.clear();
  twice.apply([&](tg::Module& m) { visited.push_back(&m); });
  CHECK(visited == std::vector<const tg::Module*>{a.get(), &twice});

  CHECK_THROWS_AS(net.apply(nullptr), tg::ValueError);
  CHECK_THROWS_WITH(net.apply(nullptr), Catch::Contains("Module::apply") && Catch::Contains("empty"));
}

TEST_CASE("Module::apply with the init functions initialises every Linear of a model",
          "[layers][module][apply][init]") {
  tg::manual_seed(7);
  tg::Sequential net{std::make_shared<tg::Linear>(100, 200), std::make_shared<tg::ReLU>(),
                     std::make_shared<tg::Linear>(200, 150)};
  int linears = 0;
  net.apply([&](tg::Module& m) {
    if (auto* l = dynamic_cast<tg::Linear*>(&m)) {
      tg::zeros_(l->bias);
      tg::normal_(l->weight, 0, 0.02);
      ++linears;
    }
  });
  CHECK(linears == 2);
  for (std::size_t i : {std::size_t{0}, std::size_t{2}}) {
    auto l = std::dynamic_pointer_cast<tg::Linear>(net[i]);
    REQUIRE(l);
    CHECK(l->weight.requires_grad());  // still parameters
    CHECK(l->bias.tolist() == std::vector<double>(static_cast<std::size_t>(l->bias.numel()), 0.0));
    std::vector<double> w = l->weight.tolist();
    double n = static_cast<double>(w.size()), mean = 0, sq = 0;
    for (double v : w) mean += v / n;
    for (double v : w) sq += (v - mean) * (v - mean) / n;
    // 20000 or 30000 draws: the sample mean is within 4 standard errors (0.02 / sqrt(n)) of 0
    // and the sample std within 2% of 0.02 (PyTorch's default init would give std ~0.04 or more).
    CHECK(std::abs(mean) < 4 * 0.02 / std::sqrt(n));
    CHECK(std::abs(std::sqrt(sq) - 0.02) < 0.02 * 0.02);
  }
  // The model still trains: the gradients reach the new values.
  Tensor y = net(tg::randn({4, 100})).sum();
  y.backward();
  CHECK(std::dynamic_pointer_cast<tg::Linear>(net[2])->bias.grad().defined());
}
