// SPDX-License-Identifier: MIT
// tg_bench: tapegrad's benchmarks, on Google Benchmark. It takes every Google Benchmark flag
// (--benchmark_filter=tape, --benchmark_format=json, --benchmark_out=FILE,
// --benchmark_repetitions=N, ...) and one of its own:
//   --threads N   threads for tapegrad's kernels (tg::set_num_threads); default: one per core
// The thread count, compiler and build are written to the report's context.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include <benchmark/benchmark.h>

#include "tapegrad/cpu.hpp"
#include "tapegrad/error.hpp"
#include "tapegrad/threads.hpp"

namespace {

void print_help() {
  std::printf(
      "tg_bench [--threads N] [Google Benchmark flags]\n"
      "  --threads N  threads for tapegrad's kernels (default: one per core)\n\n");
  benchmark::PrintDefaultHelp();
}

bool parse_positive(std::string_view text, int& value) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && value >= 1;
}

// Removes `--threads N` or `--threads=N` from argv, storing N in `threads`. Returns false
// (after printing why) on a missing or invalid value.
bool take_threads_flag(int& argc, char** argv, int& threads) {
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    if (arg == "--threads") {
      if (i + 1 == argc) {
        std::fprintf(stderr, "tg_bench: --threads needs a value, e.g. --threads 2\n");
        return false;
      }
      value = argv[++i];
    } else if (arg.starts_with("--threads=")) {
      value = arg.substr(std::strlen("--threads="));
    } else {
      argv[out++] = argv[i];
      continue;
    }
    if (!parse_positive(value, threads)) {
      std::fprintf(stderr, "tg_bench: --threads wants a whole number >= 1, got '%.*s'\n",
                   static_cast<int>(value.size()), value.data());
      return false;
    }
  }
  argc = out;
  argv[argc] = nullptr;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (!take_threads_flag(argc, argv, threads)) return 2;
  tg::set_num_threads(threads);

  benchmark::Initialize(&argc, argv, print_help);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("tapegrad_threads", std::to_string(threads));
  benchmark::AddCustomContext("tapegrad_build", TAPEGRAD_BENCH_BUILD);
  try {
    benchmark::AddCustomContext("tapegrad_cpu", tg::cpu_summary());
  } catch (const tg::Error& e) {  // a bad TAPEGRAD_ISA
    std::fprintf(stderr, "tg_bench: %s\n", e.what());
    return 1;
  }
#if defined(__clang__)
  benchmark::AddCustomContext("compiler", "Clang " __clang_version__);
#elif defined(__GNUC__)
  benchmark::AddCustomContext("compiler", "GCC " __VERSION__);
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
