// SPDX-License-Identifier: MIT
// Confusion matrix pictures: row fractions as colours, counts and class names in the SVG.
#include "viz/viz_test_util.hpp"

using Catch::Contains;
using tg::Tensor;
using tg::test::tags_with_class;
using tg::test::texts_with_class;
using tg::test::xml_problem;
using tg::viz::Colormap;
using tg::viz::Rgb;
using Strings = std::vector<std::string>;

namespace {

// Row 0: 8 of 10 right; row 1: all 5 right; row 2: no samples.
Tensor counts3() { return Tensor{{8, 2, 0}, {0, 5, 0}, {0, 0, 0}}; }

}  // namespace

TEST_CASE("confusion_image colours each cell by its share of the row", "[viz][confusion]") {
  tg::viz::Image img = tg::viz::confusion_image(counts3(), 10);
  REQUIRE(img.width == 30);
  REQUIRE(img.height == 30);
  CHECK(img.at(5, 5) == tg::viz::color_at(Colormap::sequential, 0.8));
  CHECK(img.at(15, 5) == tg::viz::color_at(Colormap::sequential, 0.2));
  CHECK(img.at(25, 5) == Rgb{255, 255, 255});
  CHECK(img.at(15, 15) == Rgb{33, 102, 172});   // all of row 1: the darkest blue
  CHECK(img.at(25, 25) == Rgb{255, 255, 255});  // an empty row stays white
  CHECK_THROWS_WITH(tg::viz::confusion_image(counts3(), 0), Contains("confusion_image: scale is 0"));
}

TEST_CASE("confusion_svg writes the counts, the class names and the colours", "[viz][confusion]") {
  Strings names = {"T-shirt/top", "a & b", "<c>"};
  std::string svg = tg::viz::confusion_svg(counts3(), names, "test set, epoch 10");
  CHECK(xml_problem(svg) == "");
  CHECK(texts_with_class(svg, "count") == Strings{"8", "2", "0", "0", "5", "0", "0", "0", "0"});
  CHECK(texts_with_class(svg, "true-class") == Strings{"T-shirt/top", "a &amp; b", "&lt;c&gt;"});
  CHECK(texts_with_class(svg, "predicted-class") == texts_with_class(svg, "true-class"));
  CHECK(texts_with_class(svg, "title") == Strings{"test set, epoch 10"});
  CHECK(texts_with_class(svg, "x-label") == Strings{"predicted class"});
  CHECK(texts_with_class(svg, "y-label") == Strings{"true class"});
  // Cells in row order; the full cell is the sequential colormap's end, with white text.
  std::vector<std::string> fills;
  std::regex cell("<rect x=\"[^\"]*\" y=\"[^\"]*\" width=\"44.00\" height=\"44.00\" fill=\"(#[0-9a-f]{6})\"/>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), cell); it != std::sregex_iterator(); ++it)
    fills.push_back((*it)[1]);
  REQUIRE(fills.size() == 9);
  CHECK(fills[4] == "#2166ac");
  CHECK(fills[2] == "#ffffff");
  CHECK(fills[8] == "#ffffff");
  auto counts = tags_with_class(svg, "count");
  CHECK_THAT(counts[0], Contains("fill=\"white\""));  // 0.8 of its row
  CHECK_THAT(counts[1], Contains("fill=\"black\""));  // 0.2
  CHECK(tg::viz::confusion_svg(counts3(), names, "test set, epoch 10") == svg);
  CHECK(tags_with_class(tg::viz::confusion_svg(counts3(), names), "title").empty());

  tg::test::TempDir dir("viz_confusion");
  tg::viz::write_confusion_svg(dir.file("c.svg"), counts3(), names);
  CHECK(tg::test::read_bytes(dir.file("c.svg")) == tg::viz::confusion_svg(counts3(), names));
  CHECK_THROWS_WITH(tg::viz::write_confusion_svg(dir.file("x/c.svg"), counts3(), names),
                    Contains("write_confusion_svg: write " + dir.file("x/c.svg")));
}

TEST_CASE("confusion pictures reject what is not a confusion matrix", "[viz][confusion]") {
  Strings names = {"a", "b", "c"};
  CHECK_THROWS_WITH(tg::viz::confusion_svg(tg::ones({3, 2}), names),
                    Contains("confusion_svg: counts has shape [3, 2]; a confusion matrix is a non-empty square"));
  CHECK_THROWS_WITH(tg::viz::confusion_image(tg::ones({0, 0})), Contains("confusion_image: counts has shape [0, 0]"));
  Tensor negative = counts3();
  negative.at({2, 1}) = -1;
  CHECK_THROWS_WITH(tg::viz::confusion_svg(negative, names),
                    Contains("counts[2, 1] is -1; counts must be finite and >= 0"));
  CHECK_THROWS_WITH(tg::viz::confusion_svg(counts3(), {"a", "b"}),
                    Contains("counts is [3, 3] but there are 2 class names; give one name per class"));
}
