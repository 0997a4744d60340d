// SPDX-License-Identifier: MIT
#include "common/cli.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/core.h>

#include "tapegrad/data/fashion_mnist.hpp"
#include "tapegrad/error.hpp"
#include "tapegrad/io.hpp"
#include "tapegrad/version.hpp"

namespace examples {

std::string version_string(const std::string& program) {
  return fmt::format("{} (tapegrad {})", program, TAPEGRAD_VERSION);
}

void add_version_flag(CLI::App& app, const std::string& program) {
  app.set_version_flag("--version", version_string(program), "print the program's and tapegrad's version and exit");
}

void print_configuration(const std::string& program, const Settings& settings) {
  std::size_t width = 0;
  for (const auto& [key, value] : settings) width = std::max(width, key.size());
  fmt::print("{} configuration:\n", version_string(program));
  for (const auto& [key, value] : settings) fmt::print("  {:<{}}  {}\n", key, width, value);
  std::fflush(stdout);
}

std::string fashion_mnist_search_help() {
  const char* env = std::getenv("TAPEGRAD_FASHION_MNIST");
  return fmt::format(
      "the directory of the Fashion-MNIST files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
      "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz); without --data they are looked for in "
      "$TAPEGRAD_FASHION_MNIST if set ({}), else in {}, where Debian's dataset-fashion-mnist installs them",
      env != nullptr && *env != '\0' ? fmt::format("now {}", env) : std::string("now unset"),
      tg::FashionMNIST::kDebianRoot);
}

std::string open_metrics(const std::string& path, const std::string& header, std::int64_t keep_below) {
  std::string text = header + "\n";
  if (keep_below > 0 && std::filesystem::exists(path)) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    if (line != header)
      tg::fail<tg::ValueError>(
          "--metrics {}: its header '{}' is not this program's '{}'; pass another path (or remove the file) to start "
          "a new one",
          path, line, header);
    // The rows the checkpoint has; later ones the resumed run recomputes.
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      std::int64_t key = 0;
      try {
        key = std::stoll(line.substr(0, line.find(',')));
      } catch (const std::exception&) {
        tg::fail<tg::ValueError>(
            "--metrics {}: the row '{}' does not start with a number; pass another path (or remove the file) to "
            "start a new one",
            path, line);
      }
      if (key < keep_below) text += line + "\n";
    }
  }
  try {
    write_metrics(path, text);
  } catch (const tg::IoError& error) {
    tg::fail<tg::IoError>("--metrics {}: cannot write it ({}); pass a path in a directory that exists and is writable",
                          path, error.what());
  }
  return text;
}

void write_metrics(const std::string& path, const std::string& text) { tg::write_file_atomic(path, text); }

}  // namespace examples
