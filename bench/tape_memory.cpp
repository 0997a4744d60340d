// SPDX-License-Identifier: MIT
// tg_tape_memory: the memory one tape entry holds. It records y = y * c N times on a
// one-element tensor (as tg_bench's tape/chain_scalar), runs backward, and prints
//   (peak resident set during the chain - resident set before it) / N
// in bytes per entry. Run it as a fresh process: caches filled by earlier work in the same
// process would hide what the chain itself needs.
//   tg_tape_memory [N]      N defaults to 1000000
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>

#include "common.hpp"
#include "tapegrad/tapegrad.hpp"

namespace {

// A field of /proc/self/status in kB ("VmRSS", "VmHWM"), or -1.
long status_kb(std::string_view field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':')
      return std::stol(line.substr(field.size() + 1));
  return -1;
}

// Resets VmHWM (the peak) to the current resident set: Linux's /proc/PID/clear_refs, value 5.
bool reset_peak() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t n = 1'000'000;
  if (argc > 1) {
    std::string_view arg = argv[1];
    auto [end, error] = std::from_chars(arg.data(), arg.data() + arg.size(), n);
    if (error != std::errc() || end != arg.data() + arg.size() || n < 1) {
      std::fprintf(stderr, "tg_tape_memory: N must be a whole number >= 1, got '%s'\n", argv[1]);
      return 2;
    }
  }
  tg::Tensor y0 = tg::ones({1}, {.requires_grad = true});
  const long before = status_kb("VmRSS");
  if (before < 0 || !reset_peak()) {
    std::fprintf(stderr, "tg_tape_memory: needs Linux's /proc/self/status and /proc/self/clear_refs\n");
    return 1;
  }
  {
    tg::Tensor y = y0;
    for (std::int64_t i = 0; i < n; ++i) y = y * tg_bench::kChainFactor;
    y.backward();
  }
  const long peak = status_kb("VmHWM");
  const double per_entry = static_cast<double>(peak - before) * 1024.0 / static_cast<double>(n);
  std::printf("chain of %lld ops: %.0f bytes per entry (resident set %.1f MB before, peak %.1f MB)\n",
              static_cast<long long>(n), per_entry, static_cast<double>(before) / 1024,
              static_cast<double>(peak) / 1024);
  return y0.grad().defined() ? 0 : 1;
}
