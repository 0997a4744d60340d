// SPDX-License-Identifier: MIT
#pragma once
// The pictures `lenet --out DIR` and `resnet --out DIR` draw: the training curves, the test
// set's confusion matrix and the first convolution's filters.
#include <string>
#include <vector>

#include "tapegrad/tapegrad.hpp"

namespace examples {

// The numbers printed for each epoch this run trained, in order.
struct History {
  std::vector<double> epoch, loss, train_acc, test_acc;
};

// Writes into `dir` (created if needed) loss.svg and accuracy.svg (one point per epoch of
// `history`, titled with `model`, e.g. "LeNet (classic)"), confusion.svg and confusion.png
// (`confusion` [10, 10], labelled with the Fashion-MNIST class names), when history has an
// epoch, and conv1_filters.png (`conv1_weight` [O, 1, kh, kw] as a grid). `program` names the
// flag in errors ("lenet" gives "lenet --out"). Returns the names of the files written.
std::vector<std::string> write_pictures(const std::string& program, const std::string& dir, const std::string& model,
                                        const History& history, const tg::Tensor& confusion,
                                        const tg::Tensor& conv1_weight);

}  // namespace examples
