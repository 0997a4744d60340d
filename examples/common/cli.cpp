// SPDX-License-Identifier: MIT
#include "common/cli.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <fmt/core.h>

#include "tapegrad/data/fashion_mnist.hpp"
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

}  // namespace examples
