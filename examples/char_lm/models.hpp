// SPDX-License-Identifier: MIT
#pragma once
// The character-level language models of char_lm, under PyTorch's parameter names (see the
// spec, docs/char_lm.md, and its PyTorch twin bench/char_lm.py), with PyTorch's default
// initialisation:
//   gpt:       tok_emb, pos_emb, blocks.{i}.{ln1, attn, ln2, mlp.0, mlp.2}, ln_f, head
//   lstm, gru: emb, rnn (2 layers, batch_first), head
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/tapegrad.hpp"

namespace char_lm {

// A recurrent model's state between calls: h [num_layers, B, H] and, for an LSTM, c. An
// undefined h means zeros. gpt has none.
struct State {
  tg::Tensor h, c;
  void reset() { h = c = tg::Tensor(); }
  // Cuts the history: the next step's gradient stops here (truncated backpropagation through time).
  void detach() {
    if (h.defined()) h = h.detach();
    if (c.defined()) c = c.detach();
  }
};

// What char_lm trains: ids [B, t] (int64) -> logits [B, t, V].
class LanguageModel : public tg::Module {
 public:
  virtual tg::Tensor logits(const tg::Tensor& ids, State& state) = 0;
  virtual bool recurrent() const = 0;
};

// nn.ModuleList: children named "0", "1", ...
class ModuleList : public tg::Module {
 public:
  template <class M>
  std::shared_ptr<M> append(std::shared_ptr<M> module) {
    return register_module(std::to_string(size_++), std::move(module));
  }

 private:
  int size_ = 0;
};

// A pre-norm transformer block: x + attn(ln1(x)) (causal), then x + mlp(ln2(x)).
class Block : public tg::Module {
 public:
  Block(std::int64_t n_embd, std::int64_t n_head, tg::Generator& gen);
  tg::Tensor forward(const tg::Tensor& x) override { return forward(x, nullptr); }
  // With `ln1_out`, also hands back ln1(x), the attention's input (for drawing its maps).
  tg::Tensor forward(const tg::Tensor& x, tg::Tensor* ln1_out);

  std::shared_ptr<tg::LayerNorm> ln1;
  std::shared_ptr<tg::MultiheadAttention> attn;
  std::shared_ptr<tg::LayerNorm> ln2;
  std::shared_ptr<tg::Sequential> mlp;
};

struct GptConfig {
  std::int64_t n_layer = 2, n_head = 4, n_embd = 128, context = 64;
};

class Gpt : public LanguageModel {
 public:
  Gpt(std::int64_t vocab_size, const GptConfig& config, tg::Generator& gen);
  tg::Tensor logits(const tg::Tensor& ids, State&) override { return forward(ids, nullptr); }
  tg::Tensor forward(const tg::Tensor& ids) override { return forward(ids, nullptr); }
  // With `ln1_outs`, also hands back each block's ln1 output.
  tg::Tensor forward(const tg::Tensor& ids, std::vector<tg::Tensor>* ln1_outs);
  bool recurrent() const override { return false; }

  // The attention weights of every head of every block for ids [1, t]: [n_layer] tensors
  // [n_head, t, t], softmax(q k^T / sqrt(d) + causal mask), recomputed from each block's
  // in_proj weights and ln1 output. Call under NoGradGuard.
  std::vector<tg::Tensor> attention_maps(const tg::Tensor& ids);

  GptConfig config;
  std::shared_ptr<tg::Embedding> tok_emb, pos_emb;
  std::shared_ptr<ModuleList> blocks;
  std::vector<std::shared_ptr<Block>> block_list;  // the same modules as `blocks`, typed
  std::shared_ptr<tg::LayerNorm> ln_f;
  std::shared_ptr<tg::Linear> head;
};

// emb -> 2-layer LSTM or GRU (64 -> 256) -> head.
class RecurrentLM : public LanguageModel {
 public:
  static constexpr std::int64_t kEmbed = 64, kHidden = 256, kLayers = 2;
  RecurrentLM(std::int64_t vocab_size, bool lstm, tg::Generator& gen);
  tg::Tensor logits(const tg::Tensor& ids, State& state) override;
  bool recurrent() const override { return true; }

  std::shared_ptr<tg::Embedding> emb;
  std::shared_ptr<tg::LSTM> lstm;  // one of lstm and gru, registered as "rnn"
  std::shared_ptr<tg::GRU> gru;
  std::shared_ptr<tg::Linear> head;
};

// "gpt", "lstm" or "gru"; a ValueError otherwise.
std::shared_ptr<LanguageModel> make_model(const std::string& kind, std::int64_t vocab_size, tg::Generator& gen);

}  // namespace char_lm
