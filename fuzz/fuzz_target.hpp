// SPDX-License-Identifier: MIT
#pragma once
// What every fuzz target does with one input: write it to a file and run its reader's check
// (fuzz_checks.hpp) on that file. A broken invariant aborts, which libFuzzer reports as a
// crash and saves the input that caused it.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "fuzz_checks.hpp"

namespace tg::fuzz {

// A directory of its own for one fuzzing process (under $TMPDIR, which scripts/fuzz.sh puts
// in memory): the input file and the round trip's output. Removed when the process exits.
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view reader)
      : path_(std::filesystem::temp_directory_path() / fmt::format("tapegrad_fuzz_{}_{}", reader, ::getpid())) {
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string input() const { return (path_ / "input").string(); }
  std::string output() const { return (path_ / "round_trip").string(); }

 private:
  std::filesystem::path path_;
};

inline int run_one(std::string_view reader, const std::uint8_t* data, std::size_t size,
                   Outcome (*check)(const std::string& path, const std::string& scratch)) {
  static const ScratchDir dir(reader);
  {
    std::ofstream out(dir.input(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) {
      std::fprintf(stderr, "fuzz_%.*s: cannot write %s\n", static_cast<int>(reader.size()), reader.data(),
                   dir.input().c_str());
      std::abort();
    }
  }
  try {
    check(dir.input(), dir.output());
  } catch (const CheckFailure& e) {
    std::fprintf(stderr, "fuzz_%.*s: %s\n", static_cast<int>(reader.size()), reader.data(), e.what());
    std::abort();
  }
  return 0;
}

}  // namespace tg::fuzz
