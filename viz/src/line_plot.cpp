// SPDX-License-Identifier: MIT
// LinePlot: validates the series, picks the ticks, maps the points into the plot area and
// writes the SVG elements in a fixed order, so that equal plots are equal bytes.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "tapegrad/error.hpp"
#include "tapegrad/io.hpp"
#include "tapegrad/viz/line_plot.hpp"
#include "viz_util.hpp"

namespace tg::viz {

namespace {

using detail::coord;
using detail::escape_xml;

// Margins around the plot area, in pixels: room for the title above, the y tick labels and
// title on the left, the x tick labels and title below.
constexpr double kLeft = 72, kRight = 20, kTop = 40, kBottom = 56;
// A series with at most this many points also gets a dot at each point.
constexpr std::size_t kMaxMarkedPoints = 25;
// Colours of the series, in order (then again from the start): the first of Matplotlib's
// default cycle ("tab10"), familiar from most plots a reader has seen.
constexpr std::array<const char*, 6> kColors = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"};

// Pixel position of data value v on an axis from lo to hi drawn from p0 to p1.
double to_pixel(double v, double lo, double hi, double p0, double p1, bool log) {
  double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
  return p0 + t * (p1 - p0);
}

void check(const LinePlot& plot) {
  const char* op = "LinePlot::svg";
  if (plot.width < 200 || plot.height < 200)
    fail<ValueError>("{}: the plot is {} x {} pixels; width and height must be at least 200 to fit the axes", op,
                     plot.width, plot.height);
  if (plot.series.empty()) fail<ValueError>("{}: the plot has no series; add one with add(name, y)", op);
  for (const Series& s : plot.series) {
    if (s.x.size() != s.y.size())
      fail<ValueError>("{}: series '{}' has {} x values but {} y values; give one x per y", op, s.name, s.x.size(),
                       s.y.size());
    if (s.x.empty()) fail<ValueError>("{}: series '{}' has no points; add at least one (x, y)", op, s.name);
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]))
        fail<ValueError>("{}: point {} of series '{}' is ({}, {}); every coordinate must be finite", op, i, s.name,
                         s.x[i], s.y[i]);
      if (plot.log_y && s.y[i] <= 0)
        fail<ValueError>(
            "{}: point {} of series '{}' has y = {}, which a logarithmic y axis cannot show; set log_y = "
            "false or leave out values <= 0",
            op, i, s.name, s.y[i]);
    }
  }
}

struct Box {
  double x0, y0, x1, y1;
  bool contains(double x, double y) const { return x >= x0 && x <= x1 && y >= y0 && y <= y1; }
};

}  // namespace

LinePlot& LinePlot::add(std::string name, std::vector<double> x, std::vector<double> y) {
  series.push_back({std::move(name), std::move(x), std::move(y)});
  return *this;
}

LinePlot& LinePlot::add(std::string name, const std::vector<double>& y) {
  std::vector<double> x(y.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i + 1);
  return add(std::move(name), std::move(x), y);
}

std::string LinePlot::svg() const {
  check(*this);
  double inf = std::numeric_limits<double>::infinity();
  double x_min = inf, x_max = -inf, y_min = inf, y_max = -inf;
  for (const Series& s : series) {
    auto [xa, xb] = std::minmax_element(s.x.begin(), s.x.end());
    auto [ya, yb] = std::minmax_element(s.y.begin(), s.y.end());
    x_min = std::min(x_min, *xa), x_max = std::max(x_max, *xb);
    y_min = std::min(y_min, *ya), y_max = std::max(y_max, *yb);
  }
  bool whole_x = std::all_of(series.begin(), series.end(), [](const Series& s) {
    return std::all_of(s.x.begin(), s.x.end(), [](double x) { return x == std::round(x); });
  });
  Ticks xt = linear_ticks(x_min, x_max, 7, whole_x);
  Ticks yt = log_y ? log_ticks(y_min, y_max) : linear_ticks(y_min, y_max);
  double left = kLeft, right = width - kRight, top = kTop, bottom = height - kBottom;
  auto px = [&](double x) { return to_pixel(x, xt.lo, xt.hi, left, right, false); };
  auto py = [&](double y) { return to_pixel(y, yt.lo, yt.hi, bottom, top, log_y); };

  std::string out = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n",
      width, height);
  if (!title.empty())
    out += fmt::format("<text class=\"title\" x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
                       coord(width / 2.0), escape_xml(title));

  // Grid lines and tick labels, then the frame over them.
  for (std::size_t i = 0; i < xt.values.size(); ++i) {
    std::string x = coord(px(xt.values[i]));
    out += fmt::format("<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#e0e0e0\"/>\n", x,
                       coord(top), coord(bottom));
    out += fmt::format("<text class=\"tick-x\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x,
                       coord(bottom + 18), escape_xml(xt.labels[i]));
  }
  for (std::size_t i = 0; i < yt.values.size(); ++i) {
    std::string y = coord(py(yt.values[i]));
    out += fmt::format("<line class=\"grid\" x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\" stroke=\"#e0e0e0\"/>\n", y,
                       coord(left), coord(right));
    out += fmt::format("<text class=\"tick-y\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", coord(left - 6),
                       coord(py(yt.values[i]) + 4), escape_xml(yt.labels[i]));
  }
  out += fmt::format(
      "<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333333\"/>\n",
      coord(left), coord(top), coord(right - left), coord(bottom - top));
  if (!x_label.empty())
    out += fmt::format("<text class=\"x-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                       coord((left + right) / 2), coord(height - 12.0), escape_xml(x_label));
  if (!y_label.empty())
    out += fmt::format(
        "<text class=\"y-label\" x=\"0\" y=\"0\" transform=\"translate(16 {}) rotate(-90)\" "
        "text-anchor=\"middle\">{}</text>\n",
        coord((top + bottom) / 2), escape_xml(y_label));

  for (std::size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    const char* color = kColors[k % kColors.size()];
    std::string points;
    for (std::size_t i = 0; i < s.x.size(); ++i)
      points += fmt::format("{}{},{}", i ? " " : "", coord(px(s.x[i])), coord(py(s.y[i])));
    out += fmt::format(
        "<polyline class=\"series\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-linejoin=\"round\" "
        "points=\"{}\"/>\n",
        color, points);
    if (s.x.size() <= kMaxMarkedPoints)
      for (std::size_t i = 0; i < s.x.size(); ++i)
        out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"/>\n", coord(px(s.x[i])), coord(py(s.y[i])),
                           color);
  }

  // The legend goes into the first corner of the plot area (top right, top left, bottom right,
  // bottom left) that covers the fewest points of the lines, sampled along each segment so that
  // a line crossing a corner between two far-apart points counts too. Series without names
  // need no legend. Note: text width is not known without a font; 7 px per character is
  // generous for 12 px sans-serif, so the box holds the names.
  bool named = std::any_of(series.begin(), series.end(), [](const Series& s) { return !s.name.empty(); });
  if (!named) return out + "</svg>\n";
  std::size_t longest = 0;
  for (const Series& s : series) longest = std::max(longest, s.name.size());
  double legend_w = 36 + 7.0 * static_cast<double>(longest), legend_h = 8 + 18.0 * static_cast<double>(series.size());
  std::array<Box, 4> corners = {Box{right - legend_w - 8, top + 8, right - 8, top + 8 + legend_h},
                                Box{left + 8, top + 8, left + 8 + legend_w, top + 8 + legend_h},
                                Box{right - legend_w - 8, bottom - 8 - legend_h, right - 8, bottom - 8},
                                Box{left + 8, bottom - 8 - legend_h, left + 8 + legend_w, bottom - 8}};
  std::array<std::size_t, 4> covered{};
  constexpr int kSamples = 16;  // per segment
  for (const Series& s : series)
    for (std::size_t i = 0; i < s.x.size(); ++i)
      for (int k = 0; k < (i + 1 < s.x.size() ? kSamples : 1); ++k) {
        double t = static_cast<double>(k) / kSamples, x = px(s.x[i]), y = py(s.y[i]);
        if (k > 0) x += t * (px(s.x[i + 1]) - x), y += t * (py(s.y[i + 1]) - y);
        for (std::size_t c = 0; c < corners.size(); ++c) covered[c] += corners[c].contains(x, y);
      }
  const Box& box =
      corners[static_cast<std::size_t>(std::min_element(covered.begin(), covered.end()) - covered.begin())];
  out += fmt::format(
      "<g class=\"legend\">\n<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"white\" fill-opacity=\"0.85\" "
      "stroke=\"#999999\"/>\n",
      coord(box.x0), coord(box.y0), coord(legend_w), coord(legend_h));
  for (std::size_t k = 0; k < series.size(); ++k) {
    double y = box.y0 + 15 + 18.0 * static_cast<double>(k);
    out += fmt::format(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"/>\n"
        "<text x=\"{}\" y=\"{}\">{}</text>\n",
        coord(box.x0 + 8), coord(y - 4), coord(box.x0 + 28), coord(y - 4), kColors[k % kColors.size()],
        coord(box.x0 + 32), coord(y), escape_xml(series[k].name));
  }
  out += "</g>\n</svg>\n";
  return out;
}

void LinePlot::write(const std::string& path) const {
  std::string text = svg();
  try {
    write_file_atomic(path, text);
  } catch (const IoError& e) {
    fail<IoError>("LinePlot::write: {}", e.what());
  }
}

}  // namespace tg::viz
