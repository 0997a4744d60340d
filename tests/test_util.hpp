// SPDX-License-Identifier: MIT
#pragma once
// Helpers shared by the tests.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tapegrad/tapegrad.hpp"

// TG_SKIP(message): the test cannot run here (a missing package, a CPU without a feature);
// the caller returns after it. Catch2 v2 has no SKIP, so ctest recognises the line it prints
// (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt) and reports the test as skipped, not passed.
#define TG_SKIP(message) WARN("TAPEGRAD TEST SKIPPED: " << message)

// TAPEGRAD_TEST_ASAN: 1 under AddressSanitizer, where memory is counted by ASan's allocator
// (GCC defines __SANITIZE_ADDRESS__; clang answers __has_feature).
#if defined(__has_feature)
#define TAPEGRAD_TEST_HAS_FEATURE(x) __has_feature(x)
#else
#define TAPEGRAD_TEST_HAS_FEATURE(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || TAPEGRAD_TEST_HAS_FEATURE(address_sanitizer)
#define TAPEGRAD_TEST_ASAN 1
#else
#define TAPEGRAD_TEST_ASAN 0
#endif

namespace tg::test {

// Sets an environment variable for one scope and restores its old value (or unsets it).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// The op of entry `index` on this thread's tape (negative counts from the end).
inline std::string op_name(std::int64_t index = -1) {
  const Tape& tape = Tape::current();
  auto i = static_cast<std::size_t>(index < 0 ? static_cast<std::int64_t>(tape.size()) + index : index);
  return tape.entry(i).op->name;
}

// A fresh directory for one test case, removed at its end. The process id keeps parallel
// ctest runs apart.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / fmt::format("tapegrad_{}_{}", name, ::getpid())) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs `program args` through the shell, its stdout and stderr going to the given files;
// returns its exit status (std::system's).
inline int run_program(const std::string& program, const std::string& args,
                       const std::string& stdout_path = "/dev/null", const std::string& stderr_path = "/dev/null") {
  std::string command = fmt::format("{} {} > {} 2> {}", program, args, stdout_path, stderr_path);
  return std::system(command.c_str());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// t[i] along the first dim, as a new float32 tensor: t [n, ...] -> [...].
inline Tensor index0(const Tensor& t, std::int64_t i) {
  Tensor out = tg::empty(t.shape().without(0));
  const float* first = t.data<float>() + i * out.numel();
  std::copy(first, first + out.numel(), out.data<float>());
  return out;
}

// The seed notebook's 6x8 image: ones, with a dark band (zeros) in columns 2..5.
inline Tensor edge_image() {
  Tensor X = tg::ones({6, 8});
  X.index_put_({tg::Slice(), tg::Slice(2, 6)}, 0);
  return X;
}

inline std::string fixture(const std::string& name) { return std::string(TAPEGRAD_FIXTURES_DIR) + "/" + name; }

// True when a and b have the same shape and |a - b| <= atol + rtol |b| elementwise, as
// torch.allclose: infinities must match exactly, and NaN matches nothing.
inline bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-6) {
  if (!(a.shape() == b.shape())) return false;
  auto x = a.tolist(), y = b.tolist();
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::isinf(y[i]) ? x[i] != y[i] : !(std::abs(x[i] - y[i]) <= atol + rtol * std::abs(y[i]))) return false;
  }
  return true;
}

// The minimum, maximum, mean and (population) standard deviation of t's elements: what the
// initialiser tests compare with their distributions.
struct Stats {
  double min, max, mean, std;
};
inline Stats stats_of(const Tensor& t) {
  std::vector<double> v = t.tolist();
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  const double n = static_cast<double>(v.size());
  double mean = 0, sq = 0;
  for (double x : v) mean += x;
  mean /= n;
  for (double x : v) sq += (x - mean) * (x - mean);
  return {*lo, *hi, mean, std::sqrt(sq / n)};
}

}  // namespace tg::test

// Lets Catch print tensors in failure messages.
namespace Catch {
template <>
struct StringMaker<tg::Tensor> {
  static std::string convert(const tg::Tensor& t) { return tg::to_string(t); }
};
}  // namespace Catch
