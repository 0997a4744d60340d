// SPDX-License-Identifier: MIT
// The fuzz targets' seed corpus and crash reproducers (tests/fuzz/), run through the fuzz
// targets' own checks (fuzz/fuzz_checks.hpp) in the regular build: every bug a fuzzer found
// stays fixed without a fuzzing toolchain. A file named ok_* must be accepted, bad_* must be
// rejected with an IoError, and any other file (a reproducer) must pass the checks.
#include <algorithm>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include "../../fuzz/fuzz_checks.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using tg::fuzz::Outcome;

namespace {

fs::path corpus_dir(const std::string& reader) {
  return fs::path(TAPEGRAD_FIXTURES_DIR).parent_path() / "fuzz" / reader;
}

void check_corpus(const std::string& reader, Outcome (*check)(const std::string&, const std::string&)) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(corpus_dir(reader)))
    if (entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  tg::test::TempDir scratch("fuzz_corpus_" + reader);

  int accepted = 0, rejected = 0;
  for (const fs::path& file : files) {
    const std::string name = file.filename().string();
    INFO(file.string());
    Outcome outcome{};
    try {
      outcome = check(file.string(), scratch.file("round_trip"));
    } catch (const std::exception& e) {
      FAIL_CHECK(e.what());
      continue;
    }
    (outcome == Outcome::kAccepted ? accepted : rejected) += 1;
    if (name.starts_with("ok_")) CHECK(outcome == Outcome::kAccepted);
    if (name.starts_with("bad_")) CHECK(outcome == Outcome::kRejected);
  }
  // Both sides of every reader are exercised: a corpus that lost its files would pass vacuously.
  CHECK(accepted >= 5);
  CHECK(rejected >= 10);
}

}  // namespace

TEST_CASE("fuzz corpus: every .npy seed and reproducer passes the fuzz checks", "[reliability][fuzz]") {
  check_corpus("npy", tg::fuzz::check_npy);
}

TEST_CASE("fuzz corpus: every safetensors seed and reproducer passes the fuzz checks", "[reliability][fuzz]") {
  check_corpus("safetensors", tg::fuzz::check_safetensors);
}

TEST_CASE("fuzz corpus: every IDX seed and reproducer passes the fuzz checks", "[reliability][fuzz]") {
  check_corpus("idx", tg::fuzz::check_idx);
}

TEST_CASE("fuzz checks: only an IoError counts as rejecting a file", "[reliability][fuzz]") {
  using tg::fuzz::CheckFailure;
  using tg::fuzz::classify;
  CHECK(classify("reader", "f", [] {}) == Outcome::kAccepted);
  CHECK(classify("reader", "f", [] { throw tg::IoError("reader f: truncated"); }) == Outcome::kRejected);
  CHECK_THROWS_WITH(classify("reader", "f", [] { throw tg::ShapeError("Shape: negative size"); }),
                    "reader f: threw tg::ShapeError instead of an IoError: Shape: negative size");
  CHECK_THROWS_AS(classify("reader", "f", [] { throw std::bad_alloc(); }), CheckFailure);
  CHECK_THROWS_AS(classify("reader", "f", [] { throw std::length_error("vector"); }), CheckFailure);
}

TEST_CASE("fuzz checks: a failing round trip is a failure", "[reliability][fuzz]") {
  CHECK(tg::fuzz::must_succeed("step", [] { return 7; }) == 7);
  CHECK_THROWS_WITH(
      tg::fuzz::must_succeed("save_npy of a loaded tensor", [] { return tg::load_npy("/nonexistent/tapegrad.npy"); }),
      Catch::Contains("save_npy of a loaded tensor failed: load_npy /nonexistent/tapegrad.npy"));
}

// Found by reading the parser rather than by the fuzzers, whose inputs stay far smaller: a
// header nested a million levels deep used to overflow the stack (SIGSEGV) while nlohmann
// copied it inside Json::parse, or printed it for the error message. Generated here, as a
// 2 MB file has no place in the corpus.
TEST_CASE("fuzz checks: a deeply nested safetensors header is an IoError, not a stack overflow",
          "[reliability][fuzz]") {
  tg::test::TempDir dir("fuzz_deep_header");
  const std::size_t depth = 1'000'000;
  const std::string deep = std::string(depth, '[') + std::string(depth, ']');
  for (const std::string& entry :
       {"\"shape\":" + deep + ",\"data_offsets\":[0,0]", "\"shape\":[0],\"data_offsets\":" + deep}) {
    std::string header = "{\"w\":{\"dtype\":\"F32\"," + entry + "}}";
    header.append((8 - header.size() % 8) % 8, ' ');
    std::string file(8, '\0');
    for (int i = 0; i < 8; ++i)
      file[static_cast<std::size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
    tg::test::write_bytes(dir.file("deep.safetensors"), file + header);
    INFO(entry.substr(0, 20));
    CHECK(tg::fuzz::check_safetensors(dir.file("deep.safetensors"), dir.file("round_trip")) == Outcome::kRejected);
    CHECK_THROWS_WITH(tg::load_safetensors(dir.file("deep.safetensors")), Catch::Contains("more than 64 levels deep"));
  }
}
