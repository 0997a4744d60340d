// SPDX-License-Identifier: MIT
#pragma once
// Where an experiment's pictures go: its output directory, made ready before the first file.
//   auto dir = tg::viz::output_dir("edge_detection --out", out);
//   tg::viz::write_png((dir / "X.png").string(), X);
#include <filesystem>
#include <string>

namespace tg::viz {

// `dir`, created with any missing parents. Throws IoError naming `who` (the program or
// flag the path came from) and the path when it cannot be created or is not a directory.
std::filesystem::path output_dir(const std::string& who, const std::string& dir);

}  // namespace tg::viz
