// SPDX-License-Identifier: MIT
#include "char_lm/models.hpp"

#include <cmath>
#include <limits>

namespace char_lm {

using tg::Tensor;

Block::Block(std::int64_t n_embd, std::int64_t n_head, tg::Generator& gen) {
  ln1 = register_module("ln1", std::make_shared<tg::LayerNorm>(n_embd));
  attn = register_module("attn", std::make_shared<tg::MultiheadAttention>(
                                     n_embd, n_head, tg::MultiheadAttentionOptions{.batch_first = true}, gen));
  ln2 = register_module("ln2", std::make_shared<tg::LayerNorm>(n_embd));
  mlp = register_module("mlp",
                        std::make_shared<tg::Sequential>(std::make_shared<tg::Linear>(n_embd, 4 * n_embd, true, gen),
                                                         std::make_shared<tg::GELU>(),
                                                         std::make_shared<tg::Linear>(4 * n_embd, n_embd, true, gen)));
}

Tensor Block::forward(const Tensor& x, Tensor* ln1_out) {
  Tensor h = (*ln1)(x);
  if (ln1_out) *ln1_out = h;
  // Note: attn->forward, not (*attn)(...): the multi-argument call operator is being reworked.
  Tensor y = x + attn->forward(h, h, h, tg::MultiheadAttentionMasks{.is_causal = true});
  return y + (*mlp)((*ln2)(y));
}

Gpt::Gpt(std::int64_t vocab_size, const GptConfig& c, tg::Generator& gen) : config(c) {
  tok_emb = register_module("tok_emb", std::make_shared<tg::Embedding>(vocab_size, c.n_embd, std::nullopt, gen));
  pos_emb = register_module("pos_emb", std::make_shared<tg::Embedding>(c.context, c.n_embd, std::nullopt, gen));
  blocks = register_module("blocks", std::make_shared<ModuleList>());
  for (std::int64_t i = 0; i < c.n_layer; ++i)
    block_list.push_back(blocks->append(std::make_shared<Block>(c.n_embd, c.n_head, gen)));
  ln_f = register_module("ln_f", std::make_shared<tg::LayerNorm>(c.n_embd));
  head = register_module("head", std::make_shared<tg::Linear>(c.n_embd, vocab_size, true, gen));
}

Tensor Gpt::forward(const Tensor& ids, std::vector<Tensor>* ln1_outs) {
  const std::int64_t t = ids.size(1);
  if (t > config.context) tg::fail<tg::ShapeError>("gpt: {} positions, more than the context of {}", t, config.context);
  Tensor x = (*tok_emb)(ids) + (*pos_emb)(tg::arange(static_cast<double>(t), {.dtype = tg::kInt64}));
  for (const auto& block : block_list) {
    Tensor h;
    x = block->forward(x, ln1_outs ? &h : nullptr);
    if (ln1_outs) ln1_outs->push_back(h);
  }
  return (*head)((*ln_f)(x));
}

std::vector<Tensor> Gpt::attention_maps(const Tensor& ids) {
  std::vector<Tensor> ln1_outs;
  forward(ids, &ln1_outs);
  const std::int64_t t = ids.size(1), E = config.n_embd, H = config.n_head, d = E / H;
  Tensor future = tg::triu(tg::ones({t, t}), 1) > 0.5;  // true above the diagonal: not attended
  std::vector<Tensor> maps;
  for (std::size_t b = 0; b < block_list.size(); ++b) {
    const tg::MultiheadAttention& attn = *block_list[b]->attn;
    Tensor h = ln1_outs[b].reshape({t, E});
    auto project = [&](std::int64_t part) {  // [t, E] -> [H, t, d]
      Tensor w = attn.in_proj_weight.narrow(0, part * E, E), bias = attn.in_proj_bias.narrow(0, part * E, E);
      return (h.matmul(w.t()) + bias).reshape({t, H, d}).transpose(0, 1);
    };
    Tensor q = project(0), k = project(1);
    Tensor scores = q.matmul(k.transpose(1, 2)) / std::sqrt(static_cast<double>(d));
    scores = scores.masked_fill(future, -std::numeric_limits<double>::infinity());
    maps.push_back(tg::softmax(scores, -1));
  }
  return maps;
}

RecurrentLM::RecurrentLM(std::int64_t vocab_size, bool use_lstm, tg::Generator& gen) {
  emb = register_module("emb", std::make_shared<tg::Embedding>(vocab_size, kEmbed, std::nullopt, gen));
  const tg::RecurrentOptions options{.num_layers = kLayers, .batch_first = true};
  if (use_lstm)
    lstm = register_module("rnn", std::make_shared<tg::LSTM>(kEmbed, kHidden, options, gen));
  else
    gru = register_module("rnn", std::make_shared<tg::GRU>(kEmbed, kHidden, options, gen));
  head = register_module("head", std::make_shared<tg::Linear>(kHidden, vocab_size, true, gen));
}

Tensor RecurrentLM::logits(const Tensor& ids, State& state) {
  Tensor x = (*emb)(ids);
  Tensor out;
  // Note: forward(...), not the call operator, for the same reason as in Block.
  if (lstm) {
    std::optional<tg::LSTMState> initial;
    if (state.h.defined()) initial = tg::LSTMState{state.h, state.c};
    tg::LSTMOutput r = lstm->forward(x, initial);
    out = r.output;
    state.h = r.state.h;
    state.c = r.state.c;
  } else {
    tg::RecurrentOutput r = gru->forward(x, state.h);
    out = r.output;
    state.h = r.h;
  }
  return (*head)(out);
}

std::shared_ptr<LanguageModel> make_model(const std::string& kind, std::int64_t vocab_size, tg::Generator& gen) {
  if (kind == "gpt") return std::make_shared<Gpt>(vocab_size, GptConfig{}, gen);
  if (kind == "lstm" || kind == "gru") return std::make_shared<RecurrentLM>(vocab_size, kind == "lstm", gen);
  tg::fail<tg::ValueError>("unknown --model '{}' (gpt, lstm or gru)", kind);
}

}  // namespace char_lm
