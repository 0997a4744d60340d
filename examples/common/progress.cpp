// SPDX-License-Identifier: MIT
#include "common/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <fmt/core.h>

namespace examples {

double eta_seconds(std::int64_t done, std::int64_t remaining, double seconds) {
  if (done <= 0 || !(seconds > 0)) return NAN;
  return static_cast<double>(std::max<std::int64_t>(remaining, 0)) * seconds / static_cast<double>(done);
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e9) return "--:--";
  const auto s = static_cast<std::int64_t>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string progress_line(const ProgressLine& p, int columns) {
  const auto room = static_cast<std::size_t>(std::max(columns - 1, 0));
  // The fields after the bar, in the order printed; `keep` ranks what stays when narrow.
  struct Field {
    std::string text;
    int keep;  // higher stays longer
  };
  std::vector<Field> fields;
  if (p.total > 0) fields.push_back({fmt::format("{}/{}", p.done, p.total), 1});
  if (!p.unit.empty()) fields.push_back({fmt::format("{:.0f} {}", p.rate, p.unit), 0});
  fields.push_back({"eta " + format_duration(p.done >= p.total && p.total > 0 ? 0.0 : p.eta), 3});
  if (std::isfinite(p.loss)) fields.push_back({fmt::format("loss {:.4f}", p.loss), 2});

  auto joined = [&](int min_keep) {
    std::string out;
    for (const Field& f : fields)
      if (f.keep >= min_keep) out += " " + f.text;
    return out;
  };
  // The bar between the label and the fields, 10 to 30 wide, when everything else fits.
  const std::string all = joined(0);
  const std::size_t frame = p.label.size() + 3 + all.size();  // label, " [", "]"
  if (p.total > 0 && frame + 10 <= room) {
    const std::size_t width = std::min<std::size_t>(room - frame, 30);
    const auto filled = static_cast<std::size_t>(static_cast<double>(width) *
                                                 static_cast<double>(std::clamp<std::int64_t>(p.done, 0, p.total)) /
                                                 static_cast<double>(p.total));
    return p.label + " [" + std::string(filled, '=') + std::string(width - filled, ' ') + "]" + all;
  }
  for (int min_keep = 0; min_keep <= 4; ++min_keep) {
    std::string line = p.label + joined(min_keep);
    if (line.size() <= room) return line;
  }
  return p.label.substr(0, room);
}

int terminal_columns() {
  winsize w{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
  if (const char* env = std::getenv("COLUMNS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n > 0 && n < 100000) return static_cast<int>(n);
  }
  return 80;
}

bool progress_enabled() { return ::isatty(STDERR_FILENO) == 1; }

namespace {
std::size_t drawn = 0;  // the length of the line on the screen
}  // namespace

void draw_progress(const ProgressLine& p) {
  if (!progress_enabled()) return;
  const std::string line = progress_line(p, terminal_columns());
  // Spaces over what is left of a longer line drawn before.
  fmt::print(stderr, "\r{}{}", line, std::string(drawn > line.size() ? drawn - line.size() : 0, ' '));
  if (drawn > line.size()) fmt::print(stderr, "\r{}", line);
  drawn = line.size();
  std::fflush(stderr);
}

void clear_progress() {
  if (!progress_enabled() || drawn == 0) return;
  fmt::print(stderr, "\r{}\r", std::string(drawn, ' '));
  drawn = 0;
  std::fflush(stderr);
}

}  // namespace examples
