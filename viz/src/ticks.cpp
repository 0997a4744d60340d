// SPDX-License-Identifier: MIT
// Tick values for plot axes: multiples of 1, 2 or 5 x 10^k on a linear axis, powers of ten on
// a logarithmic one.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "tapegrad/error.hpp"
#include "tapegrad/viz/line_plot.hpp"

namespace tg::viz {

namespace {

// Note: floor and ceil of quotients like 0.9 / 0.05 = 18.000000000000004 must not add a
// tick, so they forgive this much rounding error.
constexpr double kSlack = 1e-9;

// m x 10^e, computed so that it rounds once: 3 x 10^-1 is 3 / 10 = 0.3, not 0.30000000000000004.
double scaled(std::int64_t m, int e) {
  double p = std::pow(10.0, std::abs(e));  // exact for |e| <= 22
  return e >= 0 ? static_cast<double>(m) * p : static_cast<double>(m) / p;
}

void check_range(const char* op, double lo, double hi, int max_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi || !std::isfinite(hi - lo))
    fail<ValueError>("{}: the range [{}, {}] is not a finite interval; pass finite lo <= hi", op, lo, hi);
  if (max_ticks < 2) fail<ValueError>("{}: max_ticks is {}; an axis needs at least 2 ticks", op, max_ticks);
}

}  // namespace

Ticks linear_ticks(double lo, double hi, int max_ticks, bool whole) {
  check_range("linear_ticks", lo, hi, max_ticks);
  // A range too narrow for its labels to tell apart in double precision counts as one value.
  if (hi - lo <= std::max(std::abs(lo), std::abs(hi)) * 1e-9) {
    double v = lo / 2 + hi / 2, d = v == 0 ? 1 : std::abs(v) / 10;
    lo = v - d;
    hi = v + d;
  }
  // Start one power of ten below the step that would split the range evenly, and walk up
  // 1, 2, 5, 10, 20, ... until the ticks covering [lo, hi] fit.
  int e = static_cast<int>(std::floor(std::log10((hi - lo) / (max_ticks - 1)))) - 1;
  for (int i = 0;; ++i) {
    int exponent = e + i / 3;
    std::int64_t m = std::array<std::int64_t, 3>{1, 2, 5}[static_cast<std::size_t>(i % 3)];
    double step = scaled(m, exponent);
    if (whole && step < 1) continue;
    auto first = static_cast<std::int64_t>(std::floor(lo / step + kSlack));
    auto last = static_cast<std::int64_t>(std::ceil(hi / step - kSlack));
    if (last - first + 1 > max_ticks) continue;
    Ticks t;
    // Note: outside 1e-5..1e7 fixed decimals get long, so labels fall back to the shortest
    // form that reads back the same value ("2.5e-07").
    bool fixed = exponent >= -5 && std::max(std::abs(lo), std::abs(hi)) < 1e7;
    for (std::int64_t k = first; k <= last; ++k) {
      double v = scaled(k * m, exponent);
      t.values.push_back(v);
      t.labels.push_back(fixed ? fmt::format("{:.{}f}", v, std::max(0, -exponent)) : fmt::format("{}", v));
    }
    t.lo = t.values.front();
    t.hi = t.values.back();
    return t;
  }
}

Ticks log_ticks(double lo, double hi, int max_ticks) {
  check_range("log_ticks", lo, hi, max_ticks);
  if (lo <= 0)
    fail<ValueError>(
        "log_ticks: the range [{}, {}] reaches {}, but a logarithmic axis needs values above 0; use a "
        "linear axis",
        lo, hi, lo);
  int e0 = static_cast<int>(std::floor(std::log10(lo) + kSlack));
  int e1 = static_cast<int>(std::ceil(std::log10(hi) - kSlack));
  if (e1 == e0) ++e1;
  int decades = e1 - e0;
  // Label 10^e as a plain number near 1, in e-notation beyond.
  auto label = [](std::int64_t m, int e) {
    return std::abs(e) <= 2 ? fmt::format("{}", scaled(m, e)) : fmt::format("{}e{}", m, e);
  };
  Ticks t;
  if (3 * decades + 1 <= max_ticks && decades <= 2) {
    for (int e = e0; e < e1; ++e)
      for (std::int64_t m : {1, 2, 5}) {
        t.values.push_back(scaled(m, e));
        t.labels.push_back(label(m, e));
      }
  } else {
    int every = (decades + max_ticks - 2) / (max_ticks - 1);  // ceil(decades / (max_ticks - 1))
    e1 = e0 + every * ((decades + every - 1) / every);
    for (int e = e0; e < e1; e += every) {
      t.values.push_back(scaled(1, e));
      t.labels.push_back(label(1, e));
    }
  }
  t.values.push_back(scaled(1, e1));
  t.labels.push_back(label(1, e1));
  t.lo = t.values.front();
  t.hi = t.values.back();
  return t;
}

}  // namespace tg::viz
