// SPDX-License-Identifier: MIT
// tg::summary: the rows and totals of examples/lenet's networks in closed form, frozen
// parameters, modules a parent calls without hooks, repeated calls, and that the summary
// leaves no hooks, modes or running statistics behind, also when the forward throws.
#include <sstream>

#include "lenet/models.hpp"
#include "tapegrad/layers/summary.hpp"
#include "test_util.hpp"

using tg::Tensor;

namespace {

// True when `m` holds no hook: every handle it gave out before the next one is unknown.
bool no_hooks_left(tg::Module& m) {
  const int next = m.register_forward_hook([](tg::Module&, const tg::TensorList&, const tg::TensorList&) {});
  m.remove_hook(next);
  for (int handle = 0; handle < next; ++handle) {
    try {
      m.remove_hook(handle);
      return false;
    } catch (const tg::ValueError&) {
    }
  }
  return true;
}

bool no_hooks_anywhere(tg::Module& model) {
  for (const auto& [name, m] : model.named_modules())
    if (!no_hooks_left(*m)) return false;
  return true;
}

std::int64_t conv_params(std::int64_t in, std::int64_t out, std::int64_t k) { return out * in * k * k + out; }
std::int64_t linear_params(std::int64_t in, std::int64_t out) { return out * in + out; }

}  // namespace

TEST_CASE("summary of the book's LeNet: rows, output shapes and parameter counts", "[layers][summary]") {
  tg::Generator gen(0);
  auto net = lenet::classic_lenet(gen);
  tg::ModelSummary s = tg::summary(*net, tg::zeros({1, 1, 28, 28}));

  struct Expected {
    std::string name, type;
    tg::Shape shape;
    std::int64_t params;
  };
  const std::vector<Expected> expected{
      {"", "Sequential", {1, 10}, 0},
      {"0", "Conv2D", {1, 6, 28, 28}, conv_params(1, 6, 5)},  // padding 2 keeps 28 x 28
      {"1", "Sigmoid", {1, 6, 28, 28}, 0},
      {"2", "AvgPool2D", {1, 6, 14, 14}, 0},
      {"3", "Conv2D", {1, 16, 10, 10}, conv_params(6, 16, 5)},  // 14 - 5 + 1
      {"4", "Sigmoid", {1, 16, 10, 10}, 0},
      {"5", "AvgPool2D", {1, 16, 5, 5}, 0},
      {"6", "Flatten", {1, 400}, 0},
      {"7", "Linear", {1, 120}, linear_params(400, 120)},
      {"8", "Sigmoid", {1, 120}, 0},
      {"9", "Linear", {1, 84}, linear_params(120, 84)},
      {"10", "Sigmoid", {1, 84}, 0},
      {"11", "Linear", {1, 10}, linear_params(84, 10)},
  };
  REQUIRE(s.rows.size() == expected.size());
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("row " << i);
    const tg::SummaryRow& row = s.rows[i];
    CHECK(row.name == expected[i].name);
    CHECK(row.type == expected[i].type);
    CHECK(row.depth == (i == 0 ? 0 : 1));
    CHECK(row.called);
    CHECK_FALSE(row.recursive);
    REQUIRE(row.output_shapes.size() == 1);
    CHECK(row.output_shapes[0] == expected[i].shape);
    CHECK(row.params == expected[i].params);
    CHECK(row.trainable_params == expected[i].params);
    sum += row.params;
  }
  CHECK(sum == 61706);  // the book's count
  CHECK(s.total_params == 61706);
  CHECK(s.trainable_params == 61706);
  CHECK(s.non_trainable_params == 0);
  CHECK(s.params_bytes == 61706 * 4);
  CHECK(s.input_bytes == 28 * 28 * 4);
  // The outputs of the 12 layers (the Sequential has children, so its own output is not added).
  std::int64_t activations = 0;
  for (std::size_t i = 1; i < expected.size(); ++i) activations += expected[i].shape.numel() * 4;
  CHECK(s.activation_bytes == activations);

  const std::string table = s.str();
  CHECK_THAT(table, Catch::Contains("Total params: 61,706\nTrainable params: 61,706\nNon-trainable params: 0\n"));
  CHECK_THAT(table, Catch::Contains("Params size (MB): 0.25\n"));
  CHECK_THAT(table, Catch::Contains(fmt::format("Forward/backward pass size (MB): {:.2f}\n", 2.0 * activations / 1e6)));
  std::istringstream lines(table);
  std::vector<std::string> conv_rows;
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("├─Conv2D: ", 0) == 0) conv_rows.push_back(line);
  REQUIRE(conv_rows.size() == 2);
  CHECK_THAT(conv_rows[0], Catch::Matches("├─Conv2D: 0 +\\[1, 6, 28, 28\\] +156"));
  CHECK_THAT(conv_rows[1], Catch::Matches("├─Conv2D: 3 +\\[1, 16, 10, 10\\] +2,416"));
  CHECK(no_hooks_anywhere(*net));
}

TEST_CASE("summary runs without a tape, in eval mode, and restores every module's mode", "[layers][summary]") {
  tg::Generator gen(1);
  auto net = lenet::modern_lenet(gen);
  (*net)[1]->eval();  // one module already in eval mode stays so
  auto bn = std::dynamic_pointer_cast<tg::BatchNorm2D>((*net)[1]);
  REQUIRE(bn);
  auto bn5 = std::dynamic_pointer_cast<tg::BatchNorm2D>((*net)[5]);
  REQUIRE(bn5);
  const std::vector<double> mean_before = bn5->running_mean.tolist();
  bool grad_enabled = true, training = true;
  int probe = (*net)[0]->register_forward_hook([&](tg::Module& m, const tg::TensorList&, const tg::TensorList&) {
    grad_enabled = tg::is_grad_enabled();
    training = m.is_training();
  });
  tg::ModelSummary s = tg::summary(*net, tg::rand({2, 1, 28, 28}, gen));
  CHECK_FALSE(grad_enabled);
  CHECK_FALSE(training);
  CHECK(tg::is_grad_enabled());
  CHECK(bn5->running_mean.tolist() == mean_before);  // eval: the running statistics are left alone
  CHECK(net->is_training());
  CHECK_FALSE(bn->is_training());
  CHECK(bn5->is_training());
  // BatchNorm's running statistics are buffers, not parameters.
  std::int64_t bn_params = 2 * (6 + 16 + 120 + 84);
  std::int64_t total = conv_params(1, 6, 5) + conv_params(6, 16, 5) + linear_params(400, 120) + linear_params(120, 84) +
                       linear_params(84, 10) + bn_params;
  CHECK(s.total_params == total);
  CHECK(s.rows.size() == 1 + 16);
  CHECK(s.rows[2].type == "BatchNorm2D");
  CHECK(s.rows[2].params == 12);
  CHECK(s.rows[2].output_shapes[0] == tg::Shape{2, 6, 28, 28});
  // The user's own hook is still there; the summary's are gone.
  (*net)[0]->remove_hook(probe);
  CHECK(no_hooks_anywhere(*net));
}

TEST_CASE("summary counts a frozen parameter as non-trainable", "[layers][summary]") {
  tg::Generator gen(2);
  tg::Sequential net{std::make_shared<tg::Linear>(4, 3, true, gen), std::make_shared<tg::ReLU>(),
                     std::make_shared<tg::Linear>(3, 2, true, gen)};
  std::dynamic_pointer_cast<tg::Linear>(net[0])->bias.requires_grad_(false);
  std::dynamic_pointer_cast<tg::Linear>(net[2])->weight.requires_grad_(false);
  tg::ModelSummary s = tg::summary(net, tg::ones({5, 4}));
  CHECK(s.total_params == 15 + 8);
  CHECK(s.trainable_params == 12 + 2);
  CHECK(s.non_trainable_params == 3 + 6);
  REQUIRE(s.rows.size() == 4);
  CHECK(s.rows[1].params == 15);
  CHECK(s.rows[1].trainable_params == 12);
  CHECK(s.rows[3].params == 8);
  CHECK(s.rows[3].trainable_params == 2);
  CHECK_THAT(s.str(), Catch::Contains("Total params: 23\nTrainable params: 14\nNon-trainable params: 9\n"));
}

namespace {

// Calls `inner` through forward() (no hooks run) and `outer` through its call operator.
class Bypass : public tg::Module {
 public:
  Bypass() {
    inner = register_module("inner", std::make_shared<tg::Linear>(4, 3));
    outer = register_module("outer", std::make_shared<tg::Linear>(3, 2));
  }
  Tensor forward(const Tensor& x) override { return (*outer)(inner->forward(x)); }
  std::shared_ptr<tg::Linear> inner, outer;
};

class Throws : public tg::Module {
 public:
  Throws() { fc = register_module("fc", std::make_shared<tg::Linear>(4, 3)); }
  Tensor forward(const Tensor& x) override {
    (*fc)(x);
    tg::fail<tg::ValueError>("Throws: on purpose");
  }
  std::shared_ptr<tg::Linear> fc;
};

}  // namespace

TEST_CASE("summary lists a module called without hooks at its place, with no shape", "[layers][summary]") {
  Bypass net;
  tg::ModelSummary s = tg::summary(net, tg::ones({1, 4}));
  REQUIRE(s.rows.size() == 3);
  CHECK(s.rows[0].name == "");
  CHECK(s.rows[1].name == "inner");
  CHECK_FALSE(s.rows[1].called);
  CHECK(s.rows[1].output_shapes.empty());
  CHECK(s.rows[1].params == 15);
  CHECK(s.rows[2].name == "outer");
  CHECK(s.rows[2].output_shapes[0] == tg::Shape{1, 2});
  CHECK(s.total_params == 15 + 8);
  CHECK_THAT(s.str(), Catch::Contains("├─Linear: inner") && Catch::Contains("--"));
}

TEST_CASE("summary of a callable: several calls, recursive rows, the returned outputs", "[layers][summary]") {
  tg::Sequential net{std::make_shared<tg::Linear>(4, 3), std::make_shared<tg::ReLU>()};
  Tensor a = tg::ones({2, 4}), b = tg::ones({5, 4});
  tg::ModelSummary s = tg::summary(net, [&] {
    Tensor first = net(a);  // (the operands of + have no order of evaluation: call in turn)
    return first.sum() + net(b).sum();
  });
  REQUIRE(s.rows.size() == 6);
  CHECK(s.rows[0].output_shapes[0] == tg::Shape{2, 3});
  CHECK_FALSE(s.rows[1].recursive);
  CHECK(s.rows[3].name == "");
  CHECK(s.rows[3].output_shapes[0] == tg::Shape{5, 3});
  CHECK(s.rows[4].recursive);
  CHECK(s.rows[5].recursive);
  CHECK(s.total_params == 15);  // counted once
  CHECK_THAT(s.str(), Catch::Contains("(recursive)"));
  CHECK(no_hooks_anywhere(net));

  // A model whose call operator does not run: its row takes what the callable returns.
  Bypass bypass;
  tg::ModelSummary t = tg::summary(bypass, [&] { return bypass.forward(tg::ones({3, 4})); });
  REQUIRE(t.rows.size() == 3);
  CHECK_FALSE(t.rows[0].called);
  CHECK(t.rows[0].output_shapes == std::vector<tg::Shape>{tg::Shape{3, 2}});
  // And one that returns nothing.
  tg::ModelSummary u = tg::summary(net, [&] { net(a); });
  CHECK(u.rows.size() == 3);
}

TEST_CASE("a forward that throws leaves no hooks and the modes as they were", "[layers][summary]") {
  Throws net;
  CHECK_THROWS_WITH(tg::summary(net, tg::ones({1, 4})), Catch::Contains("on purpose"));
  CHECK(no_hooks_anywhere(net));
  CHECK(net.is_training());
  CHECK(net.fc->is_training());
  CHECK(tg::is_grad_enabled());
  tg::Linear wrong(4, 3);
  CHECK_THROWS(tg::summary(wrong, tg::ones({1, 5})));
  CHECK(no_hooks_anywhere(wrong));
  // The probe itself can fail: a hook left on a module is found.
  wrong.register_forward_hook([](tg::Module&, const tg::TensorList&, const tg::TensorList&) {});
  CHECK_FALSE(no_hooks_anywhere(wrong));
}

TEST_CASE("summary draws the module tree as torchinfo does", "[layers][summary]") {
  auto deepest = std::make_shared<tg::Sequential>(std::make_shared<tg::Linear>(4, 3));
  auto inner = std::make_shared<tg::Sequential>(deepest, std::make_shared<tg::ReLU>());
  auto net = std::make_shared<tg::Sequential>(inner, std::make_shared<tg::Linear>(3, 2));
  tg::ModelSummary s = tg::summary(*net, tg::ones({1, 4}));
  std::vector<std::string> layers;
  std::istringstream in(s.str());
  for (std::string line; std::getline(in, line);)
    if (line.find(": ") != std::string::npos && line.rfind("Layer", 0) != 0 &&
        line.find("params") == std::string::npos && line.find("(MB)") == std::string::npos)
      layers.push_back(line.substr(0, line.find("  ", line.find(": "))));  // up to the shape column
  CHECK(layers == std::vector<std::string>{"├─Sequential: 0", "│    └─Sequential: 0.0", "│    │    └─Linear: 0.0.0",
                                           "│    └─ReLU: 0.1", "├─Linear: 1"});
  CHECK(s.rows[0].name == "");
  CHECK(s.rows[3].depth == 3);
  CHECK(s.rows[3].output_shapes[0] == tg::Shape{1, 3});
}
