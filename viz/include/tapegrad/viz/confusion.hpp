// SPDX-License-Identifier: MIT
#pragma once
// Pictures of a confusion matrix counts[true class, predicted class]: each cell coloured by
// its share of the row (the fraction of that class predicted as each class), white for none
// to dark blue for all, so the diagonal shows each class's recall.
//   tg::viz::write_confusion_svg("confusion.svg", counts, names, "test set");  // numbers and labels
//   tg::viz::write_png("confusion.png", tg::viz::confusion_image(counts, 24));  // colours only
#include <string>
#include <vector>

#include "tapegrad/tensor.hpp"
#include "tapegrad/viz/image.hpp"

namespace tg::viz {

// The matrix as a raster, one scale x scale block per cell. Throws ValueError unless counts
// is a non-empty square [K, K] of finite values >= 0, or on scale < 1.
Image confusion_image(const Tensor& counts, int scale = 24);

// The matrix as an SVG: the coloured cells with their counts written in them, the class names
// along both axes (true classes on the left, predicted along the bottom), axis titles and an
// optional title. The same input always gives the same bytes. Throws ValueError as
// confusion_image, or if class_names does not hold K names.
std::string confusion_svg(const Tensor& counts, const std::vector<std::string>& class_names,
                          const std::string& title = "");
// Writes confusion_svg(...) to `path` atomically; an unwritable path is an IoError naming it.
void write_confusion_svg(const std::string& path, const Tensor& counts, const std::vector<std::string>& class_names,
                         const std::string& title = "");

}  // namespace tg::viz
