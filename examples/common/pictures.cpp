// SPDX-License-Identifier: MIT
#include "common/pictures.hpp"

#include <filesystem>

#include <fmt/core.h>

#include "tapegrad/viz.hpp"

namespace examples {

std::vector<std::string> write_pictures(const std::string& program, const std::string& dir, const std::string& model,
                                        const History& history, const tg::Tensor& confusion,
                                        const tg::Tensor& conv1_weight) {
  const std::filesystem::path out = tg::viz::output_dir(program + " --out", dir);
  auto file = [&](const char* name) { return (out / name).string(); };
  std::vector<std::string> written;
  if (!history.epoch.empty()) {
    tg::viz::LinePlot loss{.title = fmt::format("{}: training loss per epoch", model),
                           .x_label = "epoch",
                           .y_label = "cross-entropy loss"};
    loss.add("train", history.epoch, history.loss).write(file("loss.svg"));
    tg::viz::LinePlot accuracy{
        .title = fmt::format("{}: accuracy per epoch", model), .x_label = "epoch", .y_label = "accuracy"};
    accuracy.add("train", history.epoch, history.train_acc).add("test", history.epoch, history.test_acc);
    accuracy.write(file("accuracy.svg"));

    std::vector<std::string> names(tg::FashionMNIST::kClassNames.begin(), tg::FashionMNIST::kClassNames.end());
    std::string title =
        fmt::format("test set after epoch {} (accuracy {:.4f})", history.epoch.back(), history.test_acc.back());
    tg::viz::write_confusion_svg(file("confusion.svg"), confusion, names, title);
    tg::viz::write_png(file("confusion.png"), tg::viz::confusion_image(confusion, 24));
    written.insert(written.end(), {"loss.svg", "accuracy.svg", "confusion.svg", "confusion.png"});
  }
  // Note: one symmetric range for all filters (the diverging default), so that a filter drawn
  // pale is one with small weights, not one stretched to the same contrast as the others.
  tg::viz::write_png(file("conv1_filters.png"),
                     tg::viz::image_grid(conv1_weight, {.scale = 24, .colormap = tg::viz::Colormap::diverging}));
  written.push_back("conv1_filters.png");
  return written;
}

}  // namespace examples
