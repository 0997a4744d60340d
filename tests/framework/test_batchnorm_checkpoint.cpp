// SPDX-License-Identifier: MIT
// A PyTorch state_dict with BatchNorm layers (int64 num_batches_tracked) loads into the same
// network built from tapegrad's layers, and computes what torch computes.
//
// The file is written by scripts/fixtures/make_batchnorm_checkpoint.py (run it with
// /usr/bin/python3): nn.Sequential(Conv2d(2, 4, 3, padding=1), BatchNorm2d(4), ReLU(),
// Conv2d(4, 3, 3, stride=2), BatchNorm2d(3, affine=False)) after three training-mode passes,
// saved as safetensors by hand (json + struct), with an input and torch's outputs as .npy.
#include <memory>
#include <string>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/layers/activation.hpp"
#include "tapegrad/layers/batchnorm.hpp"
#include "tapegrad/layers/checkpoint.hpp"
#include "tapegrad/layers/conv2d.hpp"
#include "tapegrad/layers/sequential.hpp"
#include "tapegrad/safetensors.hpp"

using tg::Tensor;
using tg::test::allclose;

namespace {

std::string path(const std::string& name) { return tg::test::fixture("torch/batchnorm/" + name); }
Tensor load(const std::string& name) { return tg::load_npy(path(name + ".npy")); }
const std::string kStateDict = "state_dict.safetensors";

// The torch network, layer for layer; bn1 and bn4 are its BatchNorm layers ("1." and "4.").
struct Network {
  std::shared_ptr<tg::BatchNorm2D> bn1 = std::make_shared<tg::BatchNorm2D>(4);
  std::shared_ptr<tg::BatchNorm2D> bn4 = std::make_shared<tg::BatchNorm2D>(3, 1e-5, 0.1, /*affine=*/false);
  tg::Sequential net{std::make_shared<tg::Conv2D>(2, 4, 3, /*stride=*/1, /*padding=*/1), bn1,
                     std::make_shared<tg::ReLU>(), std::make_shared<tg::Conv2D>(4, 3, 3, /*stride=*/2), bn4};
};

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::vector<std::string> names;
  for (const auto& [name, _] : named) names.push_back(name);
  return names;
}

const Tensor& find(const std::vector<std::pair<std::string, Tensor>>& named, const std::string& name) {
  for (const auto& [n, t] : named)
    if (n == name) return t;
  FAIL("no tensor named " << name);
  static Tensor none;
  return none;
}

}  // namespace

TEST_CASE("torch's BatchNorm state_dict has the names and dtypes of tapegrad's", "[batchnorm_checkpoint][torch]") {
  auto state = tg::load_safetensors(path(kStateDict));
  Network n;
  // Same names, same order: PyTorch's state_dict order (per module its parameters, then its
  // buffers), which the file keeps in its data order.
  CHECK(names_of(state) == names_of(n.net.state_dict()));
  CHECK(names_of(state) == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                                    "1.running_var", "1.num_batches_tracked", "3.weight", "3.bias",
                                                    "4.running_mean", "4.running_var", "4.num_batches_tracked"});
  for (const char* name : {"1.num_batches_tracked", "4.num_batches_tracked"}) {
    INFO(name);
    const Tensor& t = find(state, name);
    CHECK(t.dtype() == tg::kInt64);
    CHECK(t.dim() == 0);
    CHECK(t.item<std::int64_t>() == 3);
  }
  for (const auto& [name, t] : state) {
    INFO(name);
    if (name.find("num_batches_tracked") == std::string::npos) CHECK(t.dtype() == tg::kFloat32);
  }
  CHECK(tg::load_safetensors_metadata(path(kStateDict)).at("format") == "pt");
}

TEST_CASE("a PyTorch BatchNorm checkpoint loads with num_batches_tracked as int64", "[batchnorm_checkpoint][torch]") {
  Network n;
  tg::load_module(n.net, path(kStateDict));
  auto state = tg::load_safetensors(path(kStateDict));
  for (const auto& bn : {n.bn1, n.bn4}) {
    CHECK(bn->num_batches_tracked.dtype() == tg::kInt64);
    CHECK(bn->num_batches_tracked.dim() == 0);
    CHECK(bn->num_batches_tracked.item<std::int64_t>() == 3);
  }
  // Every parameter and buffer now holds the file's values, in its own dtype.
  for (const auto& [name, t] : n.net.state_dict()) {
    INFO(name);
    const Tensor& saved = find(state, name);
    CHECK(t.dtype() == saved.dtype());
    CHECK(t.tolist() == saved.tolist());
  }
  // The running statistics are not the defaults (zeros and ones): the file was trained.
  CHECK_FALSE(allclose(n.bn1->running_mean, tg::zeros({4})));
  CHECK_FALSE(allclose(n.bn4->running_var, tg::ones({3})));
  CHECK(n.bn1->weight.requires_grad());  // still a parameter after loading
}

TEST_CASE("the loaded network's eval output matches torch's", "[batchnorm_checkpoint][torch]") {
  Network n;
  Tensor x = load("x"), expected = load("eval_y");
  REQUIRE(x.shape() == tg::Shape{2, 2, 7, 7});
  REQUIRE(expected.shape() == tg::Shape{2, 3, 3, 3});
  n.net.eval();
  {
    tg::NoGradGuard no_grad;
    CHECK_FALSE(allclose(n.net(x), expected, 1e-5, 1e-5));  // without the checkpoint it differs
  }
  tg::load_module(n.net, path(kStateDict));
  Tensor y;
  {
    tg::NoGradGuard no_grad;
    y = n.net(x);
  }
  CHECK(y.dtype() == tg::kFloat32);
  CHECK(allclose(y, expected, 1e-5, 1e-5));
  // eval does not count batches
  CHECK(n.bn1->num_batches_tracked.item<std::int64_t>() == 3);
  CHECK(n.bn4->num_batches_tracked.item<std::int64_t>() == 3);
}

TEST_CASE("training on from the loaded checkpoint updates the statistics as torch does",
          "[batchnorm_checkpoint][torch]") {
  Network n;
  tg::load_module(n.net, path(kStateDict));
  n.net.train();
  Tensor y = n.net(load("x"));
  CHECK(allclose(y, load("train_y"), 1e-5, 1e-5));
  CHECK(allclose(n.bn1->running_mean, load("train_running_mean_1"), 1e-5, 1e-6));
  CHECK(allclose(n.bn1->running_var, load("train_running_var_1"), 1e-5, 1e-6));
  CHECK(allclose(n.bn4->running_mean, load("train_running_mean_4"), 1e-5, 1e-6));
  CHECK(allclose(n.bn4->running_var, load("train_running_var_4"), 1e-5, 1e-6));
  // num_batches_tracked counts on from torch's 3, and stays int64.
  CHECK(n.bn1->num_batches_tracked.dtype() == tg::kInt64);
  CHECK(n.bn1->num_batches_tracked.item<std::int64_t>() == 4);
  CHECK(n.bn4->num_batches_tracked.item<std::int64_t>() == 4);
}

TEST_CASE("a loaded BatchNorm checkpoint saves back with num_batches_tracked as I64", "[batchnorm_checkpoint]") {
  tg::test::TempDir dir("batchnorm_checkpoint");
  Network n;
  tg::load_module(n.net, path(kStateDict));
  tg::save_module(n.net, dir.file("resaved.safetensors"));
  // The bytes name the dtype as safetensors does, for torch to read back.
  std::string bytes = tg::test::read_bytes(dir.file("resaved.safetensors"));
  CHECK(bytes.find(R"("1.num_batches_tracked":{"dtype":"I64","shape":[])") != std::string::npos);
  auto again = tg::load_safetensors(dir.file("resaved.safetensors"));
  auto original = tg::load_safetensors(path(kStateDict));
  CHECK(names_of(again) == names_of(original));
  for (const auto& [name, t] : original) {
    INFO(name);
    const Tensor& back = find(again, name);
    CHECK(back.dtype() == t.dtype());
    CHECK(back.shape() == t.shape());
    CHECK(back.tolist() == t.tolist());
  }
}
