// SPDX-License-Identifier: MIT
// Module as a tree: printing as PyTorch prints a model (scripts: the same network printed by
// torch 1.13 gives these lines, with PyTorch's class names), named_modules(), and
// load_state_dict(strict = false) reporting missing and unexpected keys.
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::Tensor;
using tg::test::MessageContains;

namespace {

std::shared_ptr<tg::Sequential> lenet_like() {
  using std::make_shared;
  return make_shared<tg::Sequential>(
      make_shared<tg::Conv2D>(1, 6, 5, tg::Conv2D::Options{.padding = 2}), make_shared<tg::BatchNorm2D>(6),
      make_shared<tg::ReLU>(), make_shared<tg::MaxPool2D>(2),
      make_shared<tg::Conv2D>(6, 16, 5, tg::Conv2D::Options{.stride = 2, .bias = false}), make_shared<tg::AvgPool2D>(2),
      make_shared<tg::Flatten>(), make_shared<tg::Dropout>(0.5), make_shared<tg::Linear>(400, 120),
      make_shared<tg::GELU>(), make_shared<tg::LeakyReLU>(), make_shared<tg::Softplus>(), make_shared<tg::SiLU>(),
      make_shared<tg::Sigmoid>(), make_shared<tg::Tanh>(),
      make_shared<tg::Sequential>(make_shared<tg::Embedding>(7, 4, 2), make_shared<tg::LayerNorm>(4)),
      make_shared<tg::Linear>(4, 2, false));
}

}  // namespace

TEST_CASE("a module prints as PyTorch prints it: one line per child with its configuration", "[layers][module]") {
  auto net = lenet_like();
  // torch 1.13's print(net) of the same nn.Sequential, with tapegrad's class names
  const std::string want = R"(Sequential(
  (0): Conv2D(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
  (1): BatchNorm2D(6, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (2): ReLU()
  (3): MaxPool2D(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (4): Conv2D(6, 16, kernel_size=(5, 5), stride=(2, 2), bias=False)
  (5): AvgPool2D(kernel_size=2, stride=2, padding=0)
  (6): Flatten(start_dim=1, end_dim=-1)
  (7): Dropout(p=0.5, inplace=False)
  (8): Linear(in_features=400, out_features=120, bias=True)
  (9): GELU(approximate='none')
  (10): LeakyReLU(negative_slope=0.01)
  (11): Softplus(beta=1, threshold=20)
  (12): SiLU()
  (13): Sigmoid()
  (14): Tanh()
  (15): Sequential(
    (0): Embedding(7, 4, padding_idx=2)
    (1): LayerNorm((4,), eps=1e-05, elementwise_affine=True)
  )
  (16): Linear(in_features=4, out_features=2, bias=False)
))";
  CHECK(tg::to_string(*net) == want);
  CHECK(fmt::format("{}", *net) == want);
  std::ostringstream out;
  out << tg::Linear(3, 2);
  CHECK(out.str() == "Linear(in_features=3, out_features=2, bias=True)");
  CHECK(tg::to_string(tg::LayerNorm({2, 3})) == "LayerNorm((2, 3), eps=1e-05, elementwise_affine=True)");
  CHECK(tg::to_string(tg::MaxPool2D(3, {.stride = {2, 1}})) ==
        "MaxPool2D(kernel_size=3, stride=(2, 1), padding=0, dilation=1, ceil_mode=False)");
}

namespace {

// A user's module with named children and a parameter of its own.
class Net : public tg::Module {
 public:
  Net() {
    scale = register_parameter("scale", tg::ones({1}));
    body = register_module(
        "body", std::make_shared<tg::Sequential>(std::make_shared<tg::Linear>(4, 3), std::make_shared<tg::ReLU>()));
    head = register_module("head", std::make_shared<tg::Linear>(3, 2));
  }
  Tensor forward(const Tensor& x) override { return (*head)((*body)(x)) * scale; }
  Tensor scale;
  std::shared_ptr<tg::Sequential> body;
  std::shared_ptr<tg::Linear> head;
};

}  // namespace

TEST_CASE("named_modules lists the tree depth first with dotted names, each module once", "[layers][module]") {
  Net net;
  std::vector<std::string> names;
  for (auto& [name, m] : net.named_modules()) names.push_back(name + ":" + m->type_name());
  CHECK(names == std::vector<std::string>{":Net", "body:Sequential", "body.0:Linear", "body.1:ReLU", "head:Linear"});
  CHECK(tg::to_string(net) == R"(Net(
  (body): Sequential(
    (0): Linear(in_features=4, out_features=3, bias=True)
    (1): ReLU()
  )
  (head): Linear(in_features=3, out_features=2, bias=True)
))");
  // the pointers reach the modules themselves, for dynamic_cast
  int linears = 0;
  for (auto& [name, m] : net.named_modules()) linears += dynamic_cast<tg::Linear*>(m) != nullptr;
  CHECK(linears == 2);
}

TEST_CASE("load_state_dict(strict = false) loads the names both have and reports the others", "[layers][module]") {
  Net net;
  Tensor w = tg::full({2, 3}, 0.5);
  auto result =
      net.load_state_dict({{"head.weight", w}, {"head.extra", tg::ones({1})}, {"tail.bias", tg::ones({2})}}, false);
  CHECK(net.head->weight.tolist() == w.tolist());
  CHECK(result.missing_keys == std::vector<std::string>{"scale", "body.0.weight", "body.0.bias", "head.bias"});
  CHECK(result.unexpected_keys == std::vector<std::string>{"head.extra", "tail.bias"});
  // strict (the default) refuses the same state and changes nothing
  Tensor before = net.head->bias.clone();
  CHECK_THROWS_MATCHES(net.load_state_dict({{"head.weight", w}}), tg::ValueError,
                       MessageContains({"load_state_dict", "no 'scale'", "strict = false"}));
  // a shape that differs is an error even when not strict, as in PyTorch
  CHECK_THROWS_MATCHES(net.load_state_dict({{"head.bias", tg::ones({5})}}, false), tg::ShapeError,
                       MessageContains({"load_state_dict", "'head.bias'", "[5]", "[2]"}));
  CHECK(net.head->bias.tolist() == before.tolist());
}
