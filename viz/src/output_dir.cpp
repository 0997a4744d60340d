// SPDX-License-Identifier: MIT
#include "tapegrad/viz/output_dir.hpp"

#include <system_error>

#include "tapegrad/error.hpp"

namespace tg::viz {

std::filesystem::path output_dir(const std::string& who, const std::string& dir) {
  if (dir.empty()) fail<IoError>("{}: the output directory is an empty path; name a directory", who);
  std::filesystem::path path(dir);
  std::error_code error;
  if (std::filesystem::exists(path, error) && !std::filesystem::is_directory(path, error))
    fail<IoError>("{}: the output path {} exists and is not a directory; choose a directory", who, dir);
  std::filesystem::create_directories(path, error);
  if (error)
    fail<IoError>("{}: cannot create the output directory {}: {}; choose a writable path", who, dir, error.message());
  return path;
}

}  // namespace tg::viz
