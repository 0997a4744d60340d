// SPDX-License-Identifier: MIT
// Confusion matrices: counts -> row fractions -> the sequential colormap, as pixels or as
// an SVG table with the numbers and class names.
#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/error.hpp"
#include "tapegrad/io.hpp"
#include "tapegrad/viz/confusion.hpp"
#include "viz_util.hpp"

namespace tg::viz {

namespace {

using detail::coord;
using detail::escape_xml;

// Each cell's share of its row, [K, K] row-major; a row with no samples is all zeros.
std::vector<double> row_fractions(const char* op, const Tensor& counts) {
  if (!counts.defined() || counts.dim() != 2 || counts.size(0) != counts.size(1) || counts.numel() == 0)
    fail<ValueError>(
        "{}: counts has shape {}; a confusion matrix is a non-empty square [K, K] (true class, predicted "
        "class)",
        op, counts.defined() ? counts.shape().str() : "undefined");
  std::vector<double> v = counts.tolist();
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]) || v[i] < 0)
      fail<ValueError>("{}: counts{} is {}; counts must be finite and >= 0", op,
                       detail::index_string(counts.shape(), static_cast<std::int64_t>(i)), v[i]);
  auto K = static_cast<std::size_t>(counts.size(0));
  for (std::size_t r = 0; r < K; ++r) {
    double total = 0;
    for (std::size_t c = 0; c < K; ++c) total += v[r * K + c];
    for (std::size_t c = 0; c < K; ++c) v[r * K + c] = total > 0 ? v[r * K + c] / total : 0;
  }
  return v;
}

std::string hex(Rgb c) { return fmt::format("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]); }

}  // namespace

Image confusion_image(const Tensor& counts, int scale) {
  std::vector<double> f = row_fractions("confusion_image", counts);
  if (scale < 1) fail<ValueError>("confusion_image: scale is {}; it must be at least 1 (pixels per cell side)", scale);
  return render(from_vector(f, counts.shape()),
                {.scale = scale, .min = 0.0, .max = 1.0, .colormap = Colormap::sequential});
}

std::string confusion_svg(const Tensor& counts, const std::vector<std::string>& class_names, const std::string& title) {
  const char* op = "confusion_svg";
  std::vector<double> f = row_fractions(op, counts);
  auto K = static_cast<std::size_t>(counts.size(0));
  if (class_names.size() != K)
    fail<ValueError>("{}: counts is [{}, {}] but there are {} class names; give one name per class", op, K, K,
                     class_names.size());
  std::vector<double> n = counts.tolist();
  // Note: as in LinePlot, 7 px per character of 12 px text is a generous guess of its width.
  std::size_t longest = 0;
  for (const std::string& name : class_names) longest = std::max(longest, name.size());
  double cell = 44, names = 7.0 * static_cast<double>(longest) + 10;
  double left = 30 + names, top = title.empty() ? 12 : 40, side = cell * static_cast<double>(K);
  // The predicted-class names run down at 45 degrees below the matrix: their height is their
  // length over sqrt(2).
  double below = names / std::sqrt(2.0) + 40;
  double width = left + side + 12, height = top + side + below;

  std::string out = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n",
      coord(width), coord(height));
  if (!title.empty())
    out += fmt::format("<text class=\"title\" x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
                       coord(width / 2), escape_xml(title));
  for (std::size_t r = 0; r < K; ++r)
    for (std::size_t c = 0; c < K; ++c) {
      double x = left + cell * static_cast<double>(c), y = top + cell * static_cast<double>(r), t = f[r * K + c];
      out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n", coord(x), coord(y),
                         coord(cell), coord(cell), hex(color_at(Colormap::sequential, t)));
      // White text on the darker half of the colormap, black on the lighter.
      out += fmt::format("<text class=\"count\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{}\">{}</text>\n",
                         coord(x + cell / 2), coord(y + cell / 2 + 4), t > 0.5 ? "white" : "black", n[r * K + c]);
    }
  out += fmt::format(
      "<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
      "stroke=\"#333333\"/>\n",
      coord(left), coord(top), coord(side), coord(side));
  for (std::size_t k = 0; k < K; ++k) {
    double mid = cell * (static_cast<double>(k) + 0.5);
    out += fmt::format("<text class=\"true-class\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", coord(left - 6),
                       coord(top + mid + 4), escape_xml(class_names[k]));
    out += fmt::format(
        "<text class=\"predicted-class\" x=\"0\" y=\"0\" transform=\"translate({} {}) rotate(-45)\" "
        "text-anchor=\"end\">{}</text>\n",
        coord(left + mid + 4), coord(top + side + 10), escape_xml(class_names[k]));
  }
  out += fmt::format(
      "<text class=\"y-label\" x=\"0\" y=\"0\" transform=\"translate(16 {}) rotate(-90)\" "
      "text-anchor=\"middle\">true class</text>\n",
      coord(top + side / 2));
  out += fmt::format("<text class=\"x-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">predicted class</text>\n",
                     coord(left + side / 2), coord(height - 10));
  return out + "</svg>\n";
}

void write_confusion_svg(const std::string& path, const Tensor& counts, const std::vector<std::string>& class_names,
                         const std::string& title) {
  std::string text = confusion_svg(counts, class_names, title);
  try {
    write_file_atomic(path, text);
  } catch (const IoError& e) {
    fail<IoError>("write_confusion_svg: {}", e.what());
  }
}

}  // namespace tg::viz
