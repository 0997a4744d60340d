// SPDX-License-Identifier: MIT
// The sequence ops at the shapes of a character-level language model (batch 32, 64 steps, a
// 114-character vocabulary, width 128, 4 heads of 32): forward plus backward of each op on its
// own, gradients cleared every step, as bench/pytorch_cases.py does in PyTorch.
#include <cstdint>

#include <benchmark/benchmark.h>

#include "common.hpp"
#include "tapegrad/tapegrad.hpp"

namespace {

constexpr std::int64_t kBatch = 32, kSteps = 64, kVocab = 114, kWidth = 128, kHeads = 4;

// Backpropagates (y * g).sum() with g a fixed random tensor shaped like y, then clears the
// leaves' gradients.
void step(const tg::Tensor& y, const tg::Tensor& g, std::initializer_list<tg::Tensor> leaves) {
  y.backward(g);
  for (tg::Tensor t : leaves) t.set_grad(tg::Tensor());
}

void layer_norm(benchmark::State& state) {  // [B T, C] rows of 128
  tg::Generator gen(tg_bench::kSeed);
  tg::Tensor x = tg::randn({kBatch * kSteps, kWidth}, gen).requires_grad_();
  tg::Tensor w = tg::ones({kWidth}).requires_grad_(), b = tg::zeros({kWidth}).requires_grad_();
  tg::Tensor g = tg::randn({kBatch * kSteps, kWidth}, gen);
  for (auto _ : state) step(tg::layer_norm(x, {kWidth}, w, b), g, {x, w, b});
}
BENCHMARK(layer_norm)->Name("sequence/layer_norm")->Unit(benchmark::kMicrosecond)->UseRealTime();

void attention(benchmark::State& state) {  // causal, [B, heads, T, d]
  tg::Generator gen(tg_bench::kSeed);
  const tg::Shape shape{kBatch, kHeads, kSteps, kWidth / kHeads};
  tg::Tensor q = tg::randn(shape, gen).requires_grad_(), k = tg::randn(shape, gen).requires_grad_(),
             v = tg::randn(shape, gen).requires_grad_();
  tg::Tensor g = tg::randn(shape, gen);
  for (auto _ : state) step(tg::scaled_dot_product_attention(q, k, v, {.is_causal = true}), g, {q, k, v});
}
BENCHMARK(attention)->Name("sequence/attention_causal")->Unit(benchmark::kMicrosecond)->UseRealTime();

void embedding(benchmark::State& state) {  // [B, T] ids into a [vocab, C] table
  tg::Generator gen(tg_bench::kSeed);
  tg::Tensor table = tg::randn({kVocab, kWidth}, gen).requires_grad_();
  tg::Tensor ids = (tg::rand({kBatch, kSteps}, gen) * static_cast<double>(kVocab)).to(tg::kInt64);
  tg::Tensor g = tg::randn({kBatch, kSteps, kWidth}, gen);
  for (auto _ : state) step(tg::embedding(table, ids), g, {table});
}
BENCHMARK(embedding)->Name("sequence/embedding")->Unit(benchmark::kMicrosecond)->UseRealTime();

void cross_entropy(benchmark::State& state) {  // [B T, vocab] logits, mean over the rows
  tg::Generator gen(tg_bench::kSeed);
  tg::Tensor logits = tg::randn({kBatch * kSteps, kVocab}, gen).requires_grad_();
  tg::Tensor targets = (tg::rand({kBatch * kSteps}, gen) * static_cast<double>(kVocab)).to(tg::kInt64);
  for (auto _ : state) {
    tg::cross_entropy(logits, targets).backward();
    logits.set_grad(tg::Tensor());
  }
}
BENCHMARK(cross_entropy)->Name("sequence/cross_entropy")->Unit(benchmark::kMicrosecond)->UseRealTime();

void cat_split(benchmark::State& state) {  // [B, T, 3 C] split into q, k, v and joined again
  tg::Generator gen(tg_bench::kSeed);
  tg::Tensor x = tg::randn({kBatch, kSteps, 3 * kWidth}, gen).requires_grad_();
  tg::Tensor g = tg::randn({kBatch, kSteps, 3 * kWidth}, gen);
  for (auto _ : state) {
    std::vector<tg::Tensor> parts = tg::split(x, kWidth, 2);
    step(tg::cat(parts, 2), g, {x});
  }
}
BENCHMARK(cat_split)->Name("sequence/cat_split")->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
