// SPDX-License-Identifier: MIT
#pragma once
// Line plots as SVG, drawn without any outside tool: named series of (x, y) points, axes with
// 1-2-5 tick values, axis titles, a title, a legend, and an optional logarithmic y axis.
//   tg::viz::LinePlot plot{.title = "loss per step", .x_label = "step", .y_label = "loss", .log_y = true};
//   plot.add("train", losses);  // x = 1, 2, ..., n
//   plot.write("loss.svg");
// The same plot always gives the same bytes, so pictures can be compared and committed.
#include <string>
#include <vector>

namespace tg::viz {

// The ticks of one axis. The axis runs from lo to hi, the first and last tick, so that the
// data always lies between labelled ticks.
struct Ticks {
  double lo = 0, hi = 1;
  std::vector<double> values;
  std::vector<std::string> labels;
};

// Ticks at the multiples of the smallest step 1, 2 or 5 x 10^k that needs at most max_ticks
// ticks to cover [lo, hi]: 1..60 gives 0, 10, ..., 60; 0.55..0.9 gives 0.5, 0.6, ..., 0.9.
// Labels have as many decimals as the step needs. With `whole`, steps are 1 or more, so that
// an axis of epochs reads 1, 2, 3 rather than 1.0, 1.5, 2.0. A single value v (or a range too
// narrow to label) gets the range around it (v -+ 1 for 0, v -+ |v| / 10 otherwise). Throws
// ValueError if lo > hi, either is not finite, or max_ticks < 2.
Ticks linear_ticks(double lo, double hi, int max_ticks = 7, bool whole = false);

// Ticks for a logarithmic axis over [lo, hi] (both > 0): the axis runs between the powers of
// ten around them, with a tick at every power of ten (every second, third, ... power when
// there would be more than max_ticks), and at 2 and 5 x 10^k too when the range spans at most
// two powers. Labels read 0.01, 0.1, 1, 10, 100 and 1e-3, 1e3 beyond. Throws ValueError if
// lo <= 0, lo > hi, either is not finite, or max_ticks < 2.
Ticks log_ticks(double lo, double hi, int max_ticks = 8);

struct Series {
  std::string name{};
  std::vector<double> x{}, y{};
};

struct LinePlot {
  std::string title{}, x_label{}, y_label{};
  bool log_y = false;
  int width = 640, height = 400;  // pixels
  std::vector<Series> series{};

  // Adds a series; x and y must have the same length (checked when drawing).
  LinePlot& add(std::string name, std::vector<double> x, std::vector<double> y);
  // Adds y against x = 1, 2, ..., y.size(): a value per step or per epoch.
  LinePlot& add(std::string name, const std::vector<double>& y);

  // The SVG document. Each series is a polyline in its own colour, with a dot at every point
  // when it has at most 25 points. When every x is a whole number (steps, epochs), so are the
  // x ticks. Throws ValueError when there is nothing to draw, a series
  // is empty or has x and y of different lengths, a value is not finite, a value is <= 0 on
  // a log_y plot, or width or height is below 200.
  std::string svg() const;
  // Writes svg() to `path` atomically; an unwritable path is an IoError naming it.
  void write(const std::string& path) const;
};

}  // namespace tg::viz
