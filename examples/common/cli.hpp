// SPDX-License-Identifier: MIT
#pragma once
// What every example's command line shares: --version, the configuration block a run prints
// at start, and the places the Fashion-MNIST loader looks for its files (for --help).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace examples {

// "lenet (tapegrad 0.1.0)".
std::string version_string(const std::string& program);
// Adds --version, which prints version_string(program) on stdout and exits with status 0.
void add_version_flag(CLI::App& app, const std::string& program);

// Prints the resolved configuration on stdout, one "  key  value" line each, under a line
// "<program> (tapegrad X.Y.Z) configuration:".
using Settings = std::vector<std::pair<std::string, std::string>>;
void print_configuration(const std::string& program, const Settings& settings);

// Where tg::FashionMNIST looks when --data is not given, in order, for --help: "1. --data
// DIR, 2. $TAPEGRAD_FASHION_MNIST (now: ...), 3. /usr/share/datasets/fashion-mnist".
std::string fashion_mnist_search_help();

// --metrics: the CSV's text to start from, written at once (atomically) so that a bad path fails
// before training; the caller then rewrites the whole file with write_metrics after every row.
// A fresh run (`keep_below` 0) starts from `header` alone. A resumed run passes the first key
// (epoch or step) it will recompute: the existing file's header must be `header`, and its rows
// whose first column is below `keep_below` are kept.
std::string open_metrics(const std::string& path, const std::string& header, std::int64_t keep_below);
// Replaces the file with `text` (write and rename).
void write_metrics(const std::string& path, const std::string& text);

}  // namespace examples
