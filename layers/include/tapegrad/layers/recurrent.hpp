// SPDX-License-Identifier: MIT
#pragma once
// Recurrent layers as torch.nn's: RNNCell, GRUCell, LSTMCell (one step) and RNN, GRU, LSTM
// (a whole sequence, several layers). PyTorch's parameter names, shapes, gate order and
// initialisation, so that a PyTorch state_dict loads:
//   cells:  weight_ih [G H, input_size], weight_hh [G H, H], bias_ih [G H], bias_hh [G H]
//   layers: the same with the suffix _l0, _l1, ... per layer (layer k > 0 reads H features)
// with G = 1 (RNN), 3 (GRU: reset, update, new) or 4 (LSTM: input, forget, cell, output), and
// every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)). For one step, with x W^T + b written W x:
//   RNN:  h' = tanh(W_ih x + W_hh h)                         ("relu" in place of tanh on request)
//   GRU:  r = sigmoid(W_ir x + W_hr h),  z = sigmoid(W_iz x + W_hz h)
//         n = tanh(W_in x + r * (W_hn h)),  h' = (1 - z) n + z h
//   LSTM: i, f, o = sigmoid(W_i* x + W_h* h),  g = tanh(W_ig x + W_hg h)
//         c' = f c + i g,  h' = o tanh(c')
// Sequences are [T, B, input_size] ([B, T, input_size] with batch_first), or [T, input_size]
// unbatched; states are [num_layers, B, H] ([num_layers, H] unbatched), zeros when not given.
// Called as PyTorch's, through hooks and the module's scope:
//   auto [output, state] = lstm(x);          // LSTMOutput{output, {h, c}}
//   auto next = lstm(x2, state);             // or lstm(x2, {h0, c0})
//   auto [out, h] = gru(x, h0);              // RecurrentOutput; h0 may be left out
//   Tensor h1 = cell(x_t, h);                // the cells return the next state
// forward(x) alone (what a Sequential calls) gives the output only.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tapegrad/generator.hpp"
#include "tapegrad/layers/module.hpp"

namespace tg {

// The settings of RNN, GRU and LSTM, by name: tg::LSTM(64, 256, {.num_layers = 2, .batch_first = true}).
struct RecurrentOptions {
  std::int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;           // [B, T, features] instead of [T, B, features]
  std::string nonlinearity = "tanh";  // RNN only: "tanh" or "relu"
};

// An LSTM's state: the hidden state h and the cell state c.
struct LSTMState {
  Tensor h, c;
  template <class F>
  void for_each_tensor(F&& f) {
    f(h);
    f(c);
  }
};
// What RNN and GRU return: every step's top-layer output and the last hidden state of each layer.
struct RecurrentOutput {
  Tensor output;  // [T, B, H] ([B, T, H] with batch_first)
  Tensor h;       // [num_layers, B, H]
  template <class F>
  void for_each_tensor(F&& f) {
    f(output);
    f(h);
  }
};
// What LSTM returns: {output, {h, c}}, as PyTorch's (output, (h_n, c_n)).
struct LSTMOutput {
  Tensor output;
  LSTMState state;
  template <class F>
  void for_each_tensor(F&& f) {
    f(output);
    state.for_each_tensor(f);
  }
};

namespace detail {
// The shared part of the cells and layers: their weights and one step of the recurrence.
class RecurrentBase : public Module {
 public:
  enum class Kind { RNN, GRU, LSTM };
  std::int64_t input_size() const { return input_size_; }
  std::int64_t hidden_size() const { return hidden_size_; }
  std::string extra_repr() const override;

 protected:
  RecurrentBase(const char* layer, Kind kind, std::int64_t input_size, std::int64_t hidden_size,
                const RecurrentOptions& options, bool cell, Generator& gen);
  // One step of layer k: the projected input x W_ih^T + b_ih [B, G H], h and c [B, H], and
  // W_hh^T [H, G H].
  LSTMState step(int layer, const Tensor& x_projected, const Tensor& h, const Tensor& c, const Tensor& w_hh_t) const;
  Tensor project_input(int layer, const Tensor& x) const;      // x W_ih^T + b_ih
  Tensor hidden_step(const Tensor& x, const Tensor& h) const;  // RNNCell's and GRUCell's forward
  // The whole sequence through every layer: x [T, B, in], h0, c0 [L, B, H] (defined).
  LSTMOutput run(const Tensor& x, const Tensor& h0, const Tensor& c0) const;
  // Checks and normalises a sequence call: returns x as [T, B, in] and the initial state as
  // [L, B, H] (zeros if not given); `unbatched` tells the caller to squeeze the batch back out.
  struct Prepared {
    Tensor x, h0, c0;
    bool unbatched = false;
  };
  Prepared prepare(const Tensor& x, const Tensor& h0, const Tensor& c0) const;
  Tensor finish_output(const Tensor& out, bool unbatched) const;  // back to the caller's layout
  Tensor finish_state(const Tensor& s, bool unbatched) const;

  const char* layer_;
  Kind kind_;
  std::int64_t input_size_, hidden_size_;
  RecurrentOptions options_;
  bool cell_;
  std::vector<Tensor> weight_ih_, weight_hh_, bias_ih_, bias_hh_;  // one of each per layer
};
}  // namespace detail

class RNNCell : public detail::RecurrentBase {
 public:
  RNNCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true, std::string nonlinearity = "tanh",
          Generator& gen = default_generator());
  Tensor forward(const Tensor& x, const Tensor& h) const;  // x [B, in], h [B, H] (undefined: zeros) -> h'
  Tensor forward(const Tensor& x) override { return forward(x, Tensor()); }
  Tensor operator()(const Tensor& x, const Tensor& h = {}) { return call(*this, x, h); }
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;
};

class GRUCell : public detail::RecurrentBase {
 public:
  GRUCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true, Generator& gen = default_generator());
  Tensor forward(const Tensor& x, const Tensor& h) const;
  Tensor forward(const Tensor& x) override { return forward(x, Tensor()); }
  Tensor operator()(const Tensor& x, const Tensor& h = {}) { return call(*this, x, h); }
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;
};

class LSTMCell : public detail::RecurrentBase {
 public:
  LSTMCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true, Generator& gen = default_generator());
  LSTMState forward(const Tensor& x, const std::optional<LSTMState>& state) const;  // -> {h', c'}
  Tensor forward(const Tensor& x) override { return forward(x, std::nullopt).h; }
  LSTMState operator()(const Tensor& x, const std::optional<LSTMState>& state = std::nullopt) {
    return call(*this, x, state);
  }
  LSTMState operator()(const Tensor& x, const LSTMState& state) { return call(*this, x, state); }  // cell(x, {h, c})
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;
};

class RNN : public detail::RecurrentBase {
 public:
  RNN(std::int64_t input_size, std::int64_t hidden_size, const RecurrentOptions& options = {},
      Generator& gen = default_generator());
  RecurrentOutput forward(const Tensor& x, const Tensor& h0) const;  // h0 undefined: zeros
  Tensor forward(const Tensor& x) override { return forward(x, Tensor()).output; }
  RecurrentOutput operator()(const Tensor& x, const Tensor& h0 = {}) { return call(*this, x, h0); }
};

class GRU : public detail::RecurrentBase {
 public:
  GRU(std::int64_t input_size, std::int64_t hidden_size, const RecurrentOptions& options = {},
      Generator& gen = default_generator());
  RecurrentOutput forward(const Tensor& x, const Tensor& h0) const;
  Tensor forward(const Tensor& x) override { return forward(x, Tensor()).output; }
  RecurrentOutput operator()(const Tensor& x, const Tensor& h0 = {}) { return call(*this, x, h0); }
};

class LSTM : public detail::RecurrentBase {
 public:
  LSTM(std::int64_t input_size, std::int64_t hidden_size, const RecurrentOptions& options = {},
       Generator& gen = default_generator());
  LSTMOutput forward(const Tensor& x, const std::optional<LSTMState>& state) const;
  Tensor forward(const Tensor& x) override { return forward(x, std::nullopt).output; }
  LSTMOutput operator()(const Tensor& x, const std::optional<LSTMState>& state = std::nullopt) {
    return call(*this, x, state);
  }
  LSTMOutput operator()(const Tensor& x, const LSTMState& state) { return call(*this, x, state); }  // lstm(x, {h, c})
};

}  // namespace tg
