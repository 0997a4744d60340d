// SPDX-License-Identifier: MIT
#include "tapegrad/layers/recurrent.hpp"

#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

namespace detail {

namespace {

std::int64_t gates_of(RecurrentBase::Kind kind) {
  return kind == RecurrentBase::Kind::RNN ? 1 : kind == RecurrentBase::Kind::GRU ? 3 : 4;
}

}  // namespace

RecurrentBase::RecurrentBase(const char* layer, Kind kind, std::int64_t input_size, std::int64_t hidden_size,
                             const RecurrentOptions& options, bool cell, Generator& gen)
    : layer_(layer), kind_(kind), input_size_(input_size), hidden_size_(hidden_size), options_(options), cell_(cell) {
  if (input_size <= 0 || hidden_size <= 0)
    fail<ValueError>("{}: input_size and hidden_size must be positive, got {} and {}", layer, input_size, hidden_size);
  if (options.num_layers < 1)
    fail<ValueError>("{}: num_layers is {}; it must be at least 1", layer, options.num_layers);
  if (options.nonlinearity != "tanh" && options.nonlinearity != "relu")
    fail<ValueError>("{}: nonlinearity is \"{}\"; use \"tanh\" or \"relu\"", layer, options.nonlinearity);
  const std::int64_t rows = gates_of(kind) * hidden_size;
  const double bound = 1 / std::sqrt(static_cast<double>(hidden_size));
  auto uniform = [&](const Shape& shape) { return rand(shape, gen) * (2 * bound) - bound; };
  for (std::int64_t k = 0; k < options.num_layers; ++k) {
    // PyTorch draws them in this order (weight_ih, weight_hh, bias_ih, bias_hh per layer).
    const std::string suffix = cell ? "" : fmt::format("_l{}", k);
    const std::int64_t in = k == 0 ? input_size : hidden_size;
    weight_ih_.push_back(register_parameter("weight_ih" + suffix, uniform({rows, in})));
    weight_hh_.push_back(register_parameter("weight_hh" + suffix, uniform({rows, hidden_size})));
    bias_ih_.push_back(options.bias ? register_parameter("bias_ih" + suffix, uniform({rows})) : Tensor());
    bias_hh_.push_back(options.bias ? register_parameter("bias_hh" + suffix, uniform({rows})) : Tensor());
  }
}

Tensor RecurrentBase::project_input(int layer, const Tensor& x) const {
  Tensor p = matmul(x, weight_ih_[layer].t());
  return bias_ih_[layer].defined() ? p + bias_ih_[layer] : p;
}

LSTMState RecurrentBase::step(int layer, const Tensor& xp, const Tensor& h, const Tensor& c,
                              const Tensor& w_hh_t) const {
  Tensor hp = matmul(h, w_hh_t);
  if (bias_hh_[layer].defined()) hp = hp + bias_hh_[layer];
  switch (kind_) {
    case Kind::RNN: {
      Tensor pre = xp + hp;
      return {options_.nonlinearity == "relu" ? relu(pre) : tanh(pre), Tensor()};
    }
    case Kind::GRU: {
      std::vector<Tensor> xg = chunk(xp, 3, -1), hg = chunk(hp, 3, -1);
      Tensor r = sigmoid(xg[0] + hg[0]), z = sigmoid(xg[1] + hg[1]);
      Tensor n = tanh(xg[2] + r * hg[2]);
      return {n + z * (h - n), Tensor()};  // (1 - z) n + z h
    }
    case Kind::LSTM: {
      std::vector<Tensor> g = chunk(xp + hp, 4, -1);
      Tensor i = sigmoid(g[0]), f = sigmoid(g[1]), cell = tanh(g[2]), o = sigmoid(g[3]);
      Tensor c2 = f * c + i * cell;
      return {o * tanh(c2), c2};
    }
  }
  return {};
}

LSTMOutput RecurrentBase::run(const Tensor& x, const Tensor& h0, const Tensor& c0) const {
  const std::int64_t steps = x.size(0), batch = x.size(1);
  Tensor layer_input = x;
  std::vector<Tensor> last_h, last_c;
  for (int k = 0; k < static_cast<int>(options_.num_layers); ++k) {
    // The input projection of every step at once: one [T B, in] x [in, G H] product.
    Tensor projected = project_input(k, layer_input.reshape({steps * batch, layer_input.size(2)}))
                           .reshape({steps, batch, gates_of(kind_) * hidden_size_});
    Tensor h = select(h0, 0, k), c = kind_ == Kind::LSTM ? select(c0, 0, k) : Tensor();
    // Transposed once for the whole sequence: t() is a copy, which every step would otherwise
    // make (and keep for backward) again.
    Tensor w_hh_t = weight_hh_[k].t();
    std::vector<Tensor> outputs;
    outputs.reserve(static_cast<std::size_t>(steps));
    for (std::int64_t t = 0; t < steps; ++t) {
      LSTMState s = step(k, select(projected, 0, t), h, c, w_hh_t);
      h = s.h;
      c = s.c;
      outputs.push_back(h);
    }
    last_h.push_back(h);
    if (kind_ == Kind::LSTM) last_c.push_back(c);
    layer_input = steps == 0 ? zeros({0, batch, hidden_size_}) : stack(outputs, 0);
  }
  return {layer_input, {stack(last_h, 0), kind_ == Kind::LSTM ? stack(last_c, 0) : Tensor()}};
}

RecurrentBase::Prepared RecurrentBase::prepare(const Tensor& x_in, const Tensor& h0, const Tensor& c0) const {
  if (!x_in.defined()) fail<ValueError>("{}: the input is undefined", layer_);
  if (!x_in.is_floating_point())
    fail<DtypeError>("{}: the input is {} {}; it must be floating (embed token ids first, e.g. with tg::Embedding)",
                     layer_, dtype_name(x_in.dtype()), x_in.shape());
  if ((x_in.dim() != 2 && x_in.dim() != 3) || x_in.size(-1) != input_size_)
    fail<ShapeError>(
        "{}: the input {} must be [T, B, {}] ([B, T, {}] with batch_first) or [T, {}] for one unbatched sequence",
        layer_, x_in.shape(), input_size_, input_size_, input_size_);
  Prepared p;
  p.unbatched = x_in.dim() == 2;
  p.x = p.unbatched ? unsqueeze(x_in, 1) : options_.batch_first ? x_in.transpose(0, 1) : x_in;
  const std::int64_t batch = p.x.size(1), layers = options_.num_layers;
  const Shape state_shape = p.unbatched ? Shape{layers, hidden_size_} : Shape{layers, batch, hidden_size_};
  auto state = [&](const Tensor& s, const char* what) {
    if (!s.defined()) return zeros({layers, batch, hidden_size_}, {.dtype = p.x.dtype()});
    if (!(s.shape() == state_shape))
      fail<ShapeError>("{}: the initial {} has shape {}, but it must be [num_layers, B, H] = {}", layer_, what,
                       s.shape(), state_shape);
    return p.unbatched ? unsqueeze(s, 1) : s;
  };
  p.h0 = state(h0, "hidden state h0");
  if (kind_ == Kind::LSTM) p.c0 = state(c0, "cell state c0");
  return p;
}

Tensor RecurrentBase::finish_output(const Tensor& out, bool unbatched) const {
  if (unbatched) return squeeze(out, 1);
  return options_.batch_first ? out.transpose(0, 1) : out;
}

Tensor RecurrentBase::finish_state(const Tensor& s, bool unbatched) const { return unbatched ? squeeze(s, 1) : s; }

std::string RecurrentBase::extra_repr() const {
  std::string out = fmt::format("{}, {}", input_size_, hidden_size_);
  if (cell_) {
    if (!options_.bias) out += ", bias=False";
    if (kind_ == Kind::RNN && options_.nonlinearity != "tanh")
      out += fmt::format(", nonlinearity={}", options_.nonlinearity);
    return out;
  }
  if (options_.num_layers != 1) out += fmt::format(", num_layers={}", options_.num_layers);
  if (!options_.bias) out += ", bias=False";
  if (options_.batch_first) out += ", batch_first=True";
  if (kind_ == Kind::RNN && options_.nonlinearity != "tanh")
    out += fmt::format(", nonlinearity={}", options_.nonlinearity);
  return out;
}

}  // namespace detail

namespace {

// A cell's state: [B, H] for a batch x [B, in], [H] for one example x [in]; zeros if undefined.
Tensor cell_state(const char* layer, const Tensor& x, const Tensor& s, std::int64_t hidden, const char* what) {
  if (!x.defined() || (x.dim() != 1 && x.dim() != 2))
    fail<ShapeError>("{}: the input must be [B, input_size] or [input_size], got {}", layer,
                     x.defined() ? x.shape().str() : std::string("an undefined tensor"));
  const Shape want = x.dim() == 2 ? Shape{x.size(0), hidden} : Shape{hidden};
  if (!s.defined()) return zeros(want, {.dtype = x.dtype()});
  if (!(s.shape() == want))
    fail<ShapeError>("{}: the {} has shape {}, but it must be {} for the input {}", layer, what, s.shape(), want,
                     x.shape());
  return s;
}

void check_cell_input(const char* layer, const Tensor& x, std::int64_t input_size) {
  if (x.defined() && x.dim() >= 1 && x.size(-1) != input_size)
    fail<ShapeError>("{}: the input {} must end in input_size = {}", layer, x.shape(), input_size);
}

}  // namespace

RNNCell::RNNCell(std::int64_t input_size, std::int64_t hidden_size, bool bias, std::string nonlinearity, Generator& gen)
    : RecurrentBase("RNNCell", Kind::RNN, input_size, hidden_size,
                    {.num_layers = 1, .bias = bias, .batch_first = false, .nonlinearity = std::move(nonlinearity)},
                    true, gen),
      weight_ih(weight_ih_[0]),
      weight_hh(weight_hh_[0]),
      bias_ih(bias_ih_[0]),
      bias_hh(bias_hh_[0]) {}

Tensor detail::RecurrentBase::hidden_step(const Tensor& x, const Tensor& h) const {
  Tensor s = cell_state(layer_, x, h, hidden_size_, "hidden state");
  check_cell_input(layer_, x, input_size_);
  return step(0, project_input(0, x), s, Tensor(), weight_hh_[0].t()).h;
}

Tensor RNNCell::forward(const Tensor& x, const Tensor& h) const { return hidden_step(x, h); }

GRUCell::GRUCell(std::int64_t input_size, std::int64_t hidden_size, bool bias, Generator& gen)
    : RecurrentBase("GRUCell", Kind::GRU, input_size, hidden_size, {.num_layers = 1, .bias = bias}, true, gen),
      weight_ih(weight_ih_[0]),
      weight_hh(weight_hh_[0]),
      bias_ih(bias_ih_[0]),
      bias_hh(bias_hh_[0]) {}

Tensor GRUCell::forward(const Tensor& x, const Tensor& h) const { return hidden_step(x, h); }

LSTMCell::LSTMCell(std::int64_t input_size, std::int64_t hidden_size, bool bias, Generator& gen)
    : RecurrentBase("LSTMCell", Kind::LSTM, input_size, hidden_size, {.num_layers = 1, .bias = bias}, true, gen),
      weight_ih(weight_ih_[0]),
      weight_hh(weight_hh_[0]),
      bias_ih(bias_ih_[0]),
      bias_hh(bias_hh_[0]) {}

LSTMState LSTMCell::forward(const Tensor& x, const std::optional<LSTMState>& state) const {
  Tensor h = cell_state(layer_, x, state ? state->h : Tensor(), hidden_size_, "hidden state h");
  Tensor c = cell_state(layer_, x, state ? state->c : Tensor(), hidden_size_, "cell state c");
  check_cell_input(layer_, x, input_size_);
  return step(0, project_input(0, x), h, c, weight_hh_[0].t());
}

RNN::RNN(std::int64_t input_size, std::int64_t hidden_size, const RecurrentOptions& options, Generator& gen)
    : RecurrentBase("RNN", Kind::RNN, input_size, hidden_size, options, false, gen) {}

RecurrentOutput RNN::forward(const Tensor& x, const Tensor& h0) const {
  Prepared p = prepare(x, h0, Tensor());
  LSTMOutput r = run(p.x, p.h0, p.c0);
  return {finish_output(r.output, p.unbatched), finish_state(r.state.h, p.unbatched)};
}

GRU::GRU(std::int64_t input_size, std::int64_t hidden_size, const RecurrentOptions& options, Generator& gen)
    : RecurrentBase("GRU", Kind::GRU, input_size, hidden_size, options, false, gen) {}

RecurrentOutput GRU::forward(const Tensor& x, const Tensor& h0) const {
  Prepared p = prepare(x, h0, Tensor());
  LSTMOutput r = run(p.x, p.h0, p.c0);
  return {finish_output(r.output, p.unbatched), finish_state(r.state.h, p.unbatched)};
}

LSTM::LSTM(std::int64_t input_size, std::int64_t hidden_size, const RecurrentOptions& options, Generator& gen)
    : RecurrentBase("LSTM", Kind::LSTM, input_size, hidden_size, options, false, gen) {}

LSTMOutput LSTM::forward(const Tensor& x, const std::optional<LSTMState>& state) const {
  Prepared p = prepare(x, state ? state->h : Tensor(), state ? state->c : Tensor());
  LSTMOutput r = run(p.x, p.h0, p.c0);
  return {finish_output(r.output, p.unbatched),
          {finish_state(r.state.h, p.unbatched), finish_state(r.state.c, p.unbatched)}};
}

}  // namespace tg
