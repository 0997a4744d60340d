// SPDX-License-Identifier: MIT
// RNN, GRU, LSTM and their cells against torch.nn's, from the same weights (loaded by
// PyTorch's parameter names): outputs, final states and every gradient
// (scripts/fixtures/sequence_layers.py). Also the names, shapes and initialisation.
#include <cmath>
#include <string>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/layers/attention.hpp"
#include "tapegrad/layers/recurrent.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::MessageContains;

namespace {

Tensor load(const std::string& name) {
  return tg::load_npy(tg::test::fixture("torch/sequence_layers/" + name + ".npy"));
}

// Loads PyTorch's weights into m by name; returns the names in state_dict order.
std::vector<std::string> load_weights(tg::Module& m, const std::string& prefix) {
  std::vector<std::pair<std::string, Tensor>> state;
  std::vector<std::string> names;
  for (const auto& [name, t] : m.state_dict()) {
    state.emplace_back(name, load(prefix + "_param_" + name));
    names.push_back(name);
  }
  m.load_state_dict(state);
  return names;
}

void check_param_grads(tg::Module& m, const std::string& prefix) {
  for (const auto& [name, p] : m.named_parameters()) {
    INFO(prefix << " parameter " << name);
    REQUIRE(p.grad().defined());
    CHECK(allclose(p.grad(), load(prefix + "_dparam_" + name), 1e-4, 1e-5));
  }
}

Tensor leaf(const std::string& name) { return load(name).requires_grad_(); }

}  // namespace

TEST_CASE("LSTM: two layers, batch_first, a given state: PyTorch's outputs, states and gradients",
          "[layers][recurrent]") {
  tg::LSTM lstm(3, 4, {.num_layers = 2, .batch_first = true});
  CHECK(load_weights(lstm, "lstm") == std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                                               "bias_hh_l0", "weight_ih_l1", "weight_hh_l1",
                                                               "bias_ih_l1", "bias_hh_l1"});
  Tensor x = leaf("lstm_x"), h0 = leaf("lstm_h0"), c0 = leaf("lstm_c0");
  auto [out, state] = lstm.forward(x, tg::LSTMState{h0, c0});
  CHECK(out.shape() == Shape{2, 5, 4});
  CHECK(allclose(out, load("lstm_out"), 1e-4, 1e-5));
  CHECK(allclose(state.h, load("lstm_h"), 1e-4, 1e-5));
  CHECK(allclose(state.c, load("lstm_c"), 1e-4, 1e-5));
  ((out * load("lstm_G")).sum() + (state.h * load("lstm_Gh")).sum() + (state.c * load("lstm_Gc")).sum()).backward();
  CHECK(allclose(x.grad(), load("lstm_dx"), 1e-4, 1e-5));
  CHECK(allclose(h0.grad(), load("lstm_dh0"), 1e-4, 1e-5));
  CHECK(allclose(c0.grad(), load("lstm_dc0"), 1e-4, 1e-5));
  check_param_grads(lstm, "lstm");
}

TEST_CASE("GRU: two layers, [T, B, features]: PyTorch's outputs, state and gradients", "[layers][recurrent]") {
  tg::GRU gru(2, 5, {.num_layers = 2});
  load_weights(gru, "gru");
  Tensor x = leaf("gru_x"), h0 = leaf("gru_h0");
  auto [out, h] = gru.forward(x, h0);
  CHECK(allclose(out, load("gru_out"), 1e-4, 1e-5));
  CHECK(allclose(h, load("gru_h"), 1e-4, 1e-5));
  ((out * load("gru_G")).sum() + (h * load("gru_Gh")).sum()).backward();
  CHECK(allclose(x.grad(), load("gru_dx"), 1e-4, 1e-5));
  CHECK(allclose(h0.grad(), load("gru_dh0"), 1e-4, 1e-5));
  check_param_grads(gru, "gru");
}

TEST_CASE("RNN with relu on one unbatched sequence and no initial state", "[layers][recurrent]") {
  tg::RNN rnn(2, 3, {.nonlinearity = "relu"});
  load_weights(rnn, "rnn");
  Tensor x = leaf("rnn_x");
  auto [out, h] = rnn.forward(x, Tensor());
  CHECK(out.shape() == Shape{3, 3});
  CHECK(h.shape() == Shape{1, 3});
  CHECK(allclose(out, load("rnn_out"), 1e-4, 1e-5));
  CHECK(allclose(h, load("rnn_h"), 1e-4, 1e-5));
  (out * load("rnn_G")).sum().backward();
  CHECK(allclose(x.grad(), load("rnn_dx"), 1e-4, 1e-5));
  check_param_grads(rnn, "rnn");
}

TEST_CASE("LSTMCell and GRUCell: one step, PyTorch's values and gradients", "[layers][recurrent]") {
  tg::LSTMCell lstm(3, 4);
  CHECK(load_weights(lstm, "lstmcell") == std::vector<std::string>{"weight_ih", "weight_hh", "bias_ih", "bias_hh"});
  Tensor x = leaf("lstmcell_x"), h0 = leaf("lstmcell_h0"), c0 = leaf("lstmcell_c0");
  auto [h, c] = lstm.forward(x, tg::LSTMState{h0, c0});
  Tensor y = (h * load("lstmcell_G")).sum() + (c * 0.5).sum();
  CHECK(y.item<float>() == Approx(load("lstmcell_y").item<float>()).epsilon(1e-5));
  y.backward();
  CHECK(allclose(x.grad(), load("lstmcell_dx"), 1e-4, 1e-5));
  CHECK(allclose(h0.grad(), load("lstmcell_dh0"), 1e-4, 1e-5));
  CHECK(allclose(c0.grad(), load("lstmcell_dc0"), 1e-4, 1e-5));
  check_param_grads(lstm, "lstmcell");

  tg::GRUCell gru(3, 4);
  load_weights(gru, "grucell");
  Tensor gx = leaf("grucell_x"), gh0 = leaf("grucell_h0");
  Tensor gy = (gru.forward(gx, gh0) * load("grucell_G")).sum();
  CHECK(gy.item<float>() == Approx(load("grucell_y").item<float>()).epsilon(1e-5));
  gy.backward();
  CHECK(allclose(gx.grad(), load("grucell_dx"), 1e-4, 1e-5));
  CHECK(allclose(gh0.grad(), load("grucell_dh0"), 1e-4, 1e-5));
  check_param_grads(gru, "grucell");
}

TEST_CASE("recurrent layers: PyTorch's shapes and U(-1/sqrt(H), 1/sqrt(H)) initialisation, clear errors",
          "[layers][recurrent]") {
  tg::Generator gen(3);
  tg::LSTM lstm(10, 64, {.num_layers = 2, .bias = false}, gen);
  std::vector<std::string> names;
  for (const auto& [name, p] : lstm.named_parameters()) names.push_back(fmt::format("{} {}", name, p.shape()));
  CHECK(names == std::vector<std::string>{"weight_ih_l0 [256, 10]", "weight_hh_l0 [256, 64]", "weight_ih_l1 [256, 64]",
                                          "weight_hh_l1 [256, 64]"});
  tg::test::Stats s = tg::test::stats_of(lstm.named_parameters()[1].second);
  CHECK(s.max <= 0.125);  // 1 / sqrt(64)
  CHECK(s.min >= -0.125);
  CHECK(std::abs(s.std - 0.125 / std::sqrt(3.0)) < 0.005);
  CHECK(tg::to_string(lstm) == "LSTM(10, 64, num_layers=2, bias=False)");
  CHECK(tg::to_string(tg::GRU(4, 8, {.batch_first = true})) == "GRU(4, 8, batch_first=True)");
  CHECK(tg::to_string(tg::RNNCell(4, 8, true, "relu")) == "RNNCell(4, 8, nonlinearity=relu)");
  // a single-tensor forward, so that a recurrent layer fits in a Sequential: zeros as the state
  CHECK(lstm.forward(tg::zeros({7, 2, 10})).shape() == Shape{7, 2, 64});
  CHECK(tg::GRUCell(3, 5)(tg::ones({2, 3})).shape() == Shape{2, 5});

  CHECK_THROWS_MATCHES(lstm.forward(tg::zeros({7, 2, 9}), std::nullopt), tg::ShapeError,
                       MessageContains({"LSTM", "[7, 2, 9]", "[T, B, 10]"}));
  CHECK_THROWS_MATCHES(lstm.forward(tg::zeros({7, 2, 10}), tg::LSTMState{tg::zeros({1, 2, 64}), Tensor()}),
                       tg::ShapeError, MessageContains({"LSTM", "h0", "[1, 2, 64]", "[2, 2, 64]"}));
  CHECK_THROWS_MATCHES(lstm.forward(tg::zeros({7, 2}, {.dtype = tg::kInt64}), std::nullopt), tg::DtypeError,
                       MessageContains({"LSTM", "int64", "Embedding"}));
  CHECK_THROWS_MATCHES(tg::GRU(4, 8, {.num_layers = 0}), tg::ValueError, MessageContains({"GRU", "num_layers is 0"}));
  CHECK_THROWS_MATCHES(tg::RNN(4, 8, {.nonlinearity = "sigmoid"}), tg::ValueError,
                       MessageContains({"RNN", "\"sigmoid\"", "\"relu\""}));
}

TEST_CASE("MultiheadAttention: cross-attention with key padding and a float mask, as nn.MultiheadAttention",
          "[layers][attention]") {
  tg::MultiheadAttention mha(8, 2);
  CHECK(load_weights(mha, "mha") ==
        std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"});
  Tensor q = leaf("mha_q"), k = leaf("mha_k"), v = leaf("mha_v");
  Tensor out = mha.forward(q, k, v, {.key_padding_mask = load("mha_padding"), .attn_mask = load("mha_bias")});
  CHECK(out.shape() == Shape{3, 2, 8});
  CHECK(allclose(out, load("mha_out"), 1e-4, 1e-5));
  (out * load("mha_G")).sum().backward();
  CHECK(allclose(q.grad(), load("mha_dq"), 1e-4, 1e-5));
  CHECK(allclose(k.grad(), load("mha_dk"), 1e-4, 1e-5));
  CHECK(allclose(v.grad(), load("mha_dv"), 1e-4, 1e-5));
  check_param_grads(mha, "mha");
}

TEST_CASE("MultiheadAttention: causal self-attention, batch_first; is_causal equals the bool mask",
          "[layers][attention]") {
  tg::MultiheadAttention attn(8, 4, {.batch_first = true});
  load_weights(attn, "causal");
  Tensor x = leaf("causal_x");
  Tensor forbid = tg::triu(tg::ones({5, 5}), 1).to(tg::kBool);
  Tensor out = attn.forward(x, x, x, {.attn_mask = forbid});
  CHECK(allclose(out, load("causal_out"), 1e-4, 1e-5));
  CHECK(allclose(attn.forward(x, x, x, {.is_causal = true}), out, 1e-6, 1e-6));
  (out * load("causal_G")).sum().backward();
  CHECK(allclose(x.grad(), load("causal_dx"), 1e-4, 1e-5));
  check_param_grads(attn, "causal");
  // one unbatched sequence [L, E] gives [L, E]
  CHECK(attn.forward(tg::zeros({5, 8})).shape() == Shape{5, 8});
  CHECK_THROWS_MATCHES(tg::MultiheadAttention(10, 3), tg::ValueError,
                       MessageContains({"MultiheadAttention", "embed_dim 10", "num_heads 3"}));
  CHECK_THROWS_MATCHES(attn.forward(x, x, x, {.attn_mask = tg::zeros({4, 5})}), tg::ShapeError,
                       MessageContains({"MultiheadAttention", "attn_mask [4, 5]", "[5, 5]"}));
}
