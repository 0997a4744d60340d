// SPDX-License-Identifier: MIT
// Module forward hooks and pre-hooks, and the module scopes that anomaly errors report.
#include <limits>

#include "test_util.hpp"

using tg::Tensor;

namespace {

std::unique_ptr<tg::Sequential> small_net() {
  tg::Generator gen(3);
  auto net = std::make_unique<tg::Sequential>();
  net->push_back(std::make_shared<tg::Linear>(4, 3, true, gen));
  net->push_back(std::make_shared<tg::ReLU>());
  net->push_back(std::make_shared<tg::Linear>(3, 2, true, gen));
  return net;
}

}  // namespace

TEST_CASE("forward hooks see each child's input and output", "[layers][hooks]") {
  auto holder = small_net();
  tg::Sequential& net = *holder;
  std::vector<std::string> seen;
  for (const auto& [name, child] : net.named_children())
    child->register_forward_hook(
        [&seen, name = name](tg::Module&, const tg::TensorList& in, const tg::TensorList& out) {
          REQUIRE(in.size() == 1);
          REQUIRE(out.size() == 1);
          seen.push_back(fmt::format("{}: {} -> {}", name, in[0].shape(), out[0].shape()));
        });
  net(tg::ones({5, 4}));
  CHECK(seen == std::vector<std::string>{"0: [5, 4] -> [5, 3]", "1: [5, 3] -> [5, 3]", "2: [5, 3] -> [5, 2]"});
}

TEST_CASE("a pre-hook can replace the input and a forward hook the output", "[layers][hooks]") {
  tg::ReLU relu;
  int pre =
      relu.register_forward_pre_hook([](tg::Module&, const tg::TensorList& x) { return tg::TensorList{x[0] - 1}; });
  relu.register_forward_hook(
      [](tg::Module&, const tg::TensorList&, const tg::TensorList& y) { return tg::TensorList{y[0] * 10}; });
  Tensor y = relu(Tensor{{0.5, 3.0}});
  CHECK(y.tolist() == std::vector<double>{0, 20});
  relu.remove_hook(pre);
  CHECK(relu(Tensor{{0.5, 3.0}}).tolist() == std::vector<double>{5, 30});
  CHECK_THROWS_WITH(relu.remove_hook(pre), Catch::Contains("Module::remove_hook: no hook with handle"));
  CHECK_THROWS_WITH(relu.register_forward_hook(nullptr), Catch::Contains("the hook is empty"));
  // forward() itself, called directly, runs no hooks.
  CHECK(relu.forward(Tensor{{3.0}}).tolist() == std::vector<double>{3});
}

TEST_CASE("gradients flow through what a forward hook returns", "[layers][hooks]") {
  auto holder = small_net();
  tg::Sequential& net = *holder;
  Tensor x = tg::ones({2, 4});
  net(x).sum().backward();
  std::vector<Tensor> plain;
  for (const Tensor& p : net.parameters()) plain.push_back(p.grad().clone());
  net.zero_grad();
  net.register_forward_hook(
      [](tg::Module&, const tg::TensorList&, const tg::TensorList& y) { return tg::TensorList{y[0] * 3}; });
  net(x).sum().backward();
  std::vector<Tensor> params = net.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) CHECK(tg::test::allclose(params[i].grad(), plain[i] * 3));
}

TEST_CASE("module scopes name where an anomaly happened", "[layers][anomaly]") {
  auto holder = small_net();
  tg::Sequential& net = *holder;
  CHECK(tg::current_scope().empty());
  std::string inside;
  net.named_children()[2].second->register_forward_pre_hook(
      [&](tg::Module&, const tg::TensorList&) { inside = tg::current_scope(); });
  net(tg::ones({1, 4}));
  CHECK(inside.empty());  // pre-hooks run before the module's own scope opens
  net.named_children()[2].second->register_forward_hook(
      [&](tg::Module&, const tg::TensorList&, const tg::TensorList&) { inside = tg::current_scope(); });
  net(tg::ones({1, 4}));
  CHECK(inside.empty());  // and forward hooks after it closes
  // An Inf weight in the last layer: anomaly mode says which module recorded the op.
  REQUIRE(net.named_parameters()[2].first == "2.weight");
  net.named_parameters()[2].second.data<float>()[0] = std::numeric_limits<float>::infinity();
  tg::DetectAnomalyGuard anomaly;
  CHECK_THROWS_WITH(net(tg::ones({1, 4})), Catch::Contains("in module 2") && Catch::Contains("already held NaN/Inf"));
}

// ---- modules with typed forwards: several inputs and outputs ----

TEST_CASE("an LSTM called as a module returns its output and state, as PyTorch's", "[layers][hooks]") {
  tg::Generator gen(5);
  tg::LSTM lstm(3, 4, {.num_layers = 2}, gen);
  Tensor x = tg::randn({6, 2, 3}, gen);
  auto [output, state] = lstm(x);  // the state defaults to zeros
  CHECK(output.shape() == tg::Shape{6, 2, 4});
  CHECK(state.h.shape() == tg::Shape{2, 2, 4});
  auto direct = lstm.forward(x, std::nullopt);
  CHECK(tg::test::allclose(output, direct.output));
  // The state goes in as a braced pair, as PyTorch's (h0, c0) tuple.
  auto next = lstm(x, {state.h, state.c});
  CHECK(tg::test::allclose(next.output, lstm.forward(x, state).output));
  // In a Sequential an LSTM passes its output on (Module::operator()(x)).
  tg::Module& as_module = lstm;
  CHECK(tg::test::allclose(as_module(x), output));
}

TEST_CASE("hooks see every tensor of a typed call as lists, and may replace them", "[layers][hooks]") {
  tg::Generator gen(6);
  tg::LSTM lstm(3, 4, {}, gen);
  Tensor x = tg::randn({5, 2, 3}, gen);
  std::vector<std::size_t> counts;
  lstm.register_forward_hook([&](tg::Module& m, const tg::TensorList& in, const tg::TensorList& out) {
    CHECK(m.type_name() == "LSTM");
    counts.push_back(in.size());
    counts.push_back(out.size());
  });
  lstm(x);  // inputs [x] (no state given), outputs [output, h, c]
  Tensor h0 = tg::ones({1, 2, 4}), c0 = tg::zeros({1, 2, 4});
  lstm(x, tg::LSTMState{h0, c0});  // inputs [x, h0, c0]
  CHECK(counts == std::vector<std::size_t>{1, 3, 3, 3});

  // A pre-hook that replaces the initial state: the call sees the replacement.
  lstm.register_forward_pre_hook([&](tg::Module&, const tg::TensorList& in) -> std::optional<tg::TensorList> {
    if (in.size() != 3) return std::nullopt;
    return tg::TensorList{in[0], in[1] * 0, in[2]};
  });
  auto zero_state = lstm.forward(x, tg::LSTMState{h0 * 0, c0});
  CHECK(tg::test::allclose(lstm(x, tg::LSTMState{h0, c0}).output, zero_state.output));

  // A forward hook that replaces the outputs, e.g. scales the final cell state.
  tg::GRU gru(3, 4, {}, gen);
  gru.register_forward_hook([](tg::Module&, const tg::TensorList&, const tg::TensorList& out) {
    return tg::TensorList{out[0], out[1] * 2};
  });
  auto plain = gru.forward(x, Tensor());
  auto hooked = gru(x);
  CHECK(tg::test::allclose(hooked.output, plain.output));
  CHECK(tg::test::allclose(hooked.h, plain.h * 2));

  // A replacement of the wrong length is an error that names the module and the counts.
  gru.register_forward_hook(
      [](tg::Module&, const tg::TensorList&, const tg::TensorList& out) { return tg::TensorList{out[0]}; });
  CHECK_THROWS_WITH(gru(x), Catch::Contains("forward hook of GRU returned 1 tensors for its 2 outputs") &&
                                Catch::Contains("std::nullopt"));
}

TEST_CASE("attention takes query, key, value and braced masks; hooks see all five", "[layers][hooks]") {
  tg::Generator gen(7);
  tg::MultiheadAttention mha(8, 2, {.batch_first = true}, gen);
  Tensor q = tg::randn({2, 5, 8}, gen), kv = tg::randn({2, 4, 8}, gen);
  std::size_t seen = 0;
  mha.register_forward_pre_hook([&](tg::Module&, const tg::TensorList& in) { seen = in.size(); });
  Tensor y = mha(q, kv, kv, {.key_padding_mask = tg::Tensor({{0, 0, 0, 1}, {0, 1, 0, 0}}).to(tg::kBool)});
  CHECK(y.shape() == tg::Shape{2, 5, 8});
  CHECK(seen == 5);      // query, key, value, key_padding_mask, attn_mask (undefined)
  Tensor self = mha(q);  // one tensor: self-attention
  CHECK(tg::test::allclose(self, mha.forward(q, q, q)));
  Tensor causal = mha(q, q, q, {.is_causal = true});
  CHECK(tg::test::allclose(causal, mha.forward(q, q, q, {.is_causal = true})));
}

namespace {
// A user's module with two inputs: forward plus the one-line operator() that runs it as a call.
struct Gate : tg::Module {
  using tg::Module::forward;  // keeps the single-tensor forward visible (and clang's -Woverloaded-virtual quiet)
  std::string scope_seen;
  Tensor forward(const Tensor& x, const Tensor& gate) {
    scope_seen = tg::current_scope();
    return x * tg::sigmoid(gate);
  }
  Tensor operator()(const Tensor& x, const Tensor& gate) { return call(*this, x, gate); }
};
struct Net : tg::Module {
  std::shared_ptr<Gate> gate = register_module("gate", std::make_shared<Gate>());
  Tensor forward(const Tensor& x) override { return (*gate)(x, x * 2); }
};
}  // namespace

TEST_CASE("a user's module with a typed forward runs in its scope, through hooks", "[layers][hooks]") {
  Net net;
  Tensor x = Tensor{{1.0, -2.0}};
  std::size_t inputs = 0;
  net.gate->register_forward_hook(
      [&](tg::Module&, const tg::TensorList& in, const tg::TensorList&) { inputs = in.size(); });
  Tensor y = net(x);
  CHECK(net.gate->scope_seen == "gate");
  CHECK(inputs == 2);
  CHECK(tg::test::allclose(y, x * tg::sigmoid(x * 2)));
  // Its single-tensor forward is Module's, which says how to call it instead.
  tg::Module& as_module = *net.gate;
  CHECK_THROWS_WITH(as_module(x),
                    Catch::Contains("Gate has no single-tensor forward(x)") && Catch::Contains("module(...)"));
}
