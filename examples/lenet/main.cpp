// SPDX-License-Identifier: MIT
// LeNet on Fashion-MNIST, as in the "Convolutional Neural Networks (LeNet)" chapter.
//   --recipe classic: the book's network (sigmoid, average pooling, Xavier init), SGD lr 0.9
//   --recipe modern:  ReLU, max pooling and BatchNorm after each conv and hidden linear, Adam
// With --out DIR it draws the training curves, the test confusion matrix and conv1's filters.
// The training loop is examples/common/training.cpp, shared with resnet.
#include <memory>

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include "common/training.hpp"
#include "lenet/models.hpp"
#include "tapegrad/tapegrad.hpp"

int main(int argc, char** argv) {
  std::string recipe = "classic";
  examples::TrainOptions o;
  CLI::App app{"Train LeNet on Fashion-MNIST with tapegrad"};
  examples::add_version_flag(app, "lenet");
  app.option_defaults()->always_capture_default();  // --help shows every default
  app.add_option("--recipe", recipe, "classic (the book's) or modern")
      ->check(CLI::IsMember({"classic", "modern"}))
      ->capture_default_str();
  examples::add_training_options(app, o, "batch size (default: 256 classic, 128 modern)",
                                 "learning rate (default: 0.9 classic, 1e-3 modern)");
  app.get_option("--batch-size")->default_str("256 (classic) or 128 (modern)");
  app.get_option("--lr")->default_str("0.9 (classic) or 1e-3 (modern)");
  CLI11_PARSE(app, argc, argv);
  const bool classic = recipe == "classic";
  if (o.batch_size == 0) o.batch_size = classic ? 256 : 128;
  if (o.lr == 0) o.lr = classic ? 0.9 : 1e-3;

  try {
    tg::Generator gen(o.seed);
    examples::Experiment e;
    e.program = "lenet";
    e.title = fmt::format("LeNet ({})", recipe);
    e.settings = {{"recipe", classic ? "classic (sigmoid, average pooling, SGD)"
                                     : "modern (BatchNorm, ReLU, max pooling, Adam)"}};
    e.net = classic ? lenet::classic_lenet(gen) : lenet::modern_lenet(gen, [&](std::int64_t channels, int dims) {
      return examples::make_norm(o, channels, dims);  // SyncBatchNorm with --distributed
    });
    if (classic)
      e.optimizer = std::make_unique<tg::SGD>(e.net->parameters(), o.lr);
    else
      e.optimizer = std::make_unique<tg::Adam>(e.net->parameters(), o.lr);
    e.first_conv = std::dynamic_pointer_cast<tg::Conv2D>((*e.net)[0]);
    examples::train(e, o);
  } catch (const tg::Error& e) {
    fmt::print(stderr, "lenet: {}\n", e.what());
    return 1;
  }
  return 0;
}
