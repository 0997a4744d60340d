// SPDX-License-Identifier: MIT
// The layers of sequence models: Embedding, LayerNorm, and the activations GELU, SiLU,
// LeakyReLU and Softplus as modules. PyTorch's parameter names, shapes and initialisation,
// and its values from the same weights (scripts/fixtures/sequence_layers.py).
#include <cmath>
#include <string>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/layers/activation.hpp"
#include "tapegrad/layers/embedding.hpp"
#include "tapegrad/layers/layernorm.hpp"
#include "tapegrad/layers/sequential.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::MessageContains;

namespace {

Tensor load(const std::string& name) {
  return tg::load_npy(tg::test::fixture("torch/sequence_layers/" + name + ".npy"));
}

std::vector<std::string> names_of(const tg::Module& m) {
  std::vector<std::string> names;
  for (const auto& [name, t] : m.state_dict()) names.push_back(fmt::format("{} {}", name, t.shape()));
  return names;
}

}  // namespace

TEST_CASE("Embedding: nn.Embedding's weight, N(0, 1) rows, a zero padding row that gets no gradient",
          "[layers][sequence]") {
  tg::Generator gen(0);
  tg::Embedding big(1000, 64, std::nullopt, gen);
  CHECK(names_of(big) == std::vector<std::string>{"weight [1000, 64]"});
  tg::test::Stats s = tg::test::stats_of(big.weight);
  CHECK(std::abs(s.mean) < 0.01);  // 64,000 draws: the mean's sd is 0.004
  CHECK(std::abs(s.std - 1) < 0.01);

  tg::Embedding emb(7, 4, -5);  // -5 is row 2, counted from the end
  REQUIRE(emb.padding_idx == 2);
  CHECK(emb.weight.select(0, 2).abs().sum().item<float>() == 0);
  // PyTorch's values from its own weight
  emb.load_state_dict({{"weight", load("embedding_weight")}});
  Tensor ids = load("embedding_ids");
  Tensor out = emb(ids);
  CHECK(out.shape() == Shape{2, 3, 4});
  CHECK(allclose(out, load("embedding_out")));
  (out * load("embedding_G")).sum().backward();
  CHECK(allclose(emb.weight.grad(), load("embedding_dweight")));
  CHECK(emb.weight.grad().select(0, 2).abs().sum().item<float>() == 0);

  CHECK_THROWS_MATCHES(tg::Embedding(0, 4), tg::ValueError, MessageContains({"Embedding", "0 and 4"}));
  CHECK_THROWS_MATCHES(tg::Embedding(7, 4, 7), tg::ValueError,
                       MessageContains({"Embedding", "padding_idx 7", "[-7, 7)"}));
}

TEST_CASE("LayerNorm: nn.LayerNorm's weight and bias (ones and zeros), and its values", "[layers][sequence]") {
  tg::LayerNorm plain(8);
  CHECK(names_of(plain) == std::vector<std::string>{"weight [8]", "bias [8]"});
  CHECK(plain.weight.tolist() == std::vector<double>(8, 1.0));
  CHECK(plain.bias.tolist() == std::vector<double>(8, 0.0));
  CHECK(tg::LayerNorm(8, 1e-5, false).parameters().empty());

  tg::LayerNorm ln({3, 4}, 1e-3);
  ln.load_state_dict({{"weight", load("layernorm_weight")}, {"bias", load("layernorm_bias")}});
  Tensor x = load("layernorm_x").requires_grad_();
  Tensor out = ln(x);
  CHECK(allclose(out, load("layernorm_out"), 1e-5, 1e-5));
  (out * load("layernorm_G")).sum().backward();
  CHECK(allclose(x.grad(), load("layernorm_dx"), 1e-4, 1e-5));
  CHECK(allclose(ln.weight.grad(), load("layernorm_dweight"), 1e-4, 1e-5));
  CHECK(allclose(ln.bias.grad(), load("layernorm_dbias"), 1e-4, 1e-5));

  CHECK_THROWS_MATCHES(ln(tg::zeros({2, 4, 3})), tg::ShapeError, MessageContains({"layer_norm", "[3, 4]"}));
  CHECK_THROWS_MATCHES(tg::LayerNorm(Shape{}), tg::ValueError, MessageContains({"LayerNorm", "at least one dim"}));
}

TEST_CASE("GELU, SiLU, LeakyReLU and Softplus modules apply their op with PyTorch's defaults", "[layers][sequence]") {
  Tensor x = tg::tensor({-30.0, -1.5, 0.0, 0.5, 25.0});
  CHECK(allclose(tg::GELU()(x), tg::gelu(x)));
  CHECK(allclose(tg::GELU("tanh")(x), tg::gelu(x, "tanh")));
  CHECK(allclose(tg::SiLU()(x), tg::silu(x)));
  CHECK(allclose(tg::LeakyReLU()(x), tg::leaky_relu(x, 0.01)));
  CHECK(allclose(tg::LeakyReLU(0.2)(x), tg::leaky_relu(x, 0.2)));
  CHECK(allclose(tg::Softplus(2, 10)(x), tg::softplus(x, 2, 10)));
  CHECK_THROWS_MATCHES(tg::GELU("fast"), tg::ValueError, MessageContains({"GELU", "\"fast\"", "\"tanh\""}));
  // and they chain in a Sequential, with the other layers
  auto mlp = std::make_shared<tg::Sequential>(std::make_shared<tg::LayerNorm>(5), std::make_shared<tg::GELU>());
  CHECK(mlp->forward(x.reshape({1, 5})).shape() == Shape{1, 5});
}
