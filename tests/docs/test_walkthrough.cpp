// SPDX-License-Identifier: MIT
// docs/walkthrough.md stays true: every command in it runs here, and its printed output must
// match the text block that follows it in the document, line for line (numbers to their
// printed precision).
//
// The format: a ```sh block of lines starting with "$ " (one command each, run by /bin/sh in
// a scratch directory, with build/bin/ pointing at this build's programs), and right after it
// a ```text block with the output. A ```sh block without a ```text block after it must run
// and succeed; its output is not compared.
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <sstream>

#include "test_util.hpp"

namespace {

struct Step {
  std::vector<std::string> commands;
  bool has_output = false;
  std::string output;
  int line = 0;  // where the ```sh block starts, for messages
};

std::filesystem::path repo_root() { return std::filesystem::path(TAPEGRAD_FIXTURES_DIR).parent_path().parent_path(); }

std::vector<Step> parse(const std::string& markdown) {
  std::vector<Step> steps;
  std::istringstream in(markdown);
  std::string line, fence;
  int number = 0;
  Step* open = nullptr;    // the ```sh block being read
  bool in_output = false;  // inside the ```text block after it
  bool expect_output = false;
  while (std::getline(in, line)) {
    ++number;
    if (open) {
      if (line == "```") {
        open = nullptr;
        expect_output = true;
        continue;
      }
      if (line.rfind("$ ", 0) == 0) steps.back().commands.push_back(line.substr(2));
      continue;
    }
    if (in_output) {
      if (line == "```") {
        in_output = false;
        continue;
      }
      steps.back().output += line + "\n";
      continue;
    }
    if (line == "```sh") {
      steps.push_back({});
      steps.back().line = number;
      open = &steps.back();
      expect_output = false;
      continue;
    }
    if (expect_output && line == "```text") {
      steps.back().has_output = true;
      in_output = true;
      continue;
    }
    if (!line.empty()) expect_output = false;
  }
  return steps;
}

// "" when `actual` matches `expected`: the same text between numbers, and each number within
// rounding of the expected one (one unit in its last printed decimal, or 1e-6 relative).
// Note: not byte equality: the sanitizer build compiles with other optimisations, which may
// contract a multiply-add differently and move the 16th digit of a printed double.
std::string mismatch(const std::string& expected, const std::string& actual) {
  static const std::regex number(R"([-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)");
  std::sregex_iterator e(expected.begin(), expected.end(), number), a(actual.begin(), actual.end(), number), end;
  std::size_t e_pos = 0, a_pos = 0;
  for (; e != end && a != end; ++e, ++a) {
    std::string e_text = expected.substr(e_pos, static_cast<std::size_t>(e->position()) - e_pos);
    std::string a_text = actual.substr(a_pos, static_cast<std::size_t>(a->position()) - a_pos);
    if (e_text != a_text) return fmt::format("text differs: expected '{}', got '{}'", e_text, a_text);
    const double x = std::stod(e->str()), y = std::stod(a->str());
    const std::string fraction = (*e)[1].str();
    const double unit = fraction.empty() ? 0.0 : std::pow(10.0, -static_cast<double>(fraction.size() - 1));
    if (std::abs(x - y) > std::max(1.01 * unit, 1e-6 * std::abs(x)))  // 1.01: the unit itself is inexact
      return fmt::format("number differs: expected {}, got {}", e->str(), a->str());
    e_pos = static_cast<std::size_t>(e->position() + e->length());
    a_pos = static_cast<std::size_t>(a->position() + a->length());
  }
  if ((e == end) != (a == end)) return "a different count of numbers";
  if (expected.substr(e_pos) != actual.substr(a_pos))
    return fmt::format("text differs at the end: expected '{}', got '{}'", expected.substr(e_pos),
                       actual.substr(a_pos));
  return "";
}

// Runs `command` with /bin/sh in `dir`; returns its stdout, and its exit status in `status`.
std::string run(const std::string& command, const std::filesystem::path& dir, int& status) {
  std::string full = fmt::format("cd '{}' && {{ {}\n}} 2>&1", dir.string(), command);
  FILE* pipe = popen(full.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  std::array<char, 4096> buffer{};
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) out.append(buffer.data(), n);
  status = pclose(pipe);
  return out;
}

}  // namespace

TEST_CASE("every command in docs/walkthrough.md prints what the document shows", "[docs][inspect]") {
  const std::filesystem::path doc = repo_root() / "docs" / "walkthrough.md";
  std::vector<Step> steps = parse(tg::test::read_bytes(doc.string()));
  REQUIRE(steps.size() >= 3);  // --inspect, --graph, --trace
  tg::test::TempDir dir("walkthrough");
  // build/bin/ in the document is this build's bin directory.
  const std::string bin = std::filesystem::path(TAPEGRAD_EDGE_DETECTION).parent_path().string();
  std::filesystem::create_directories(dir.path / "build");
  std::filesystem::create_directory_symlink(bin, dir.path / "build" / "bin");
  int compared = 0;
  for (const Step& step : steps) {
    std::string out;
    for (const std::string& command : step.commands) {
      INFO("docs/walkthrough.md line " << step.line << ": $ " << command);
      int status = 0;
      out += run(command, dir.path, status);
      INFO("output:\n" << out);
      REQUIRE(status == 0);
    }
    if (step.has_output) {
      INFO("docs/walkthrough.md line " << step.line << ": $ " << step.commands.front());
      INFO("expected:\n" << step.output << "got:\n" << out);
      CHECK(mismatch(step.output, out) == "");
      ++compared;
    }
  }
  CHECK(compared >= 3);
}

TEST_CASE("the walkthrough comparison allows rounding and nothing else", "[docs]") {
  CHECK(mismatch("norm 6.48074069840786\n", "norm 6.480740698407861\n") == "");
  CHECK(mismatch("tensor([45.7737])\n", "tensor([45.7738])\n") == "");  // one unit in the last decimal
  CHECK(mismatch("tensor([45.7737])\n", "tensor([45.7757])\n") != "");
  CHECK(mismatch("step1, loss78.6494\n", "step2, loss78.6494\n") != "");  // integers exactly
  CHECK(mismatch("%0 [6, 7]\n", "%0 [6, 8]\n") != "");
  CHECK(mismatch("weight: 1\n", "bias: 1\n") != "");
  CHECK(mismatch("a 1 2\n", "a 1 2 3\n") != "");
  CHECK(mismatch("a 1\n", "a 1\nmore\n") != "");
}
