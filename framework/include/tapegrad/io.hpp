// SPDX-License-Identifier: MIT
#pragma once
// Files: NumPy's .npy format for single tensors, and the atomic write every saver uses.
#include <string>
#include <string_view>

#include "tapegrad/tensor.hpp"

namespace tg {

// Reads a .npy file holding little-endian float32 ('<f4'), float64 ('<f8'), int64 ('<i8') or
// bool ('|b1') in C order.
// Anything else (other dtypes, Fortran order, a truncated or malformed file) is an IoError
// naming the file and the problem.
Tensor load_npy(const std::string& path);
// Writes t as a version 1.0 .npy file (its own dtype, C order), atomically.
void save_npy(const Tensor& t, const std::string& path);

// Writes `bytes` to a temporary file beside `path` ("<path>.tmp.<pid>.<n>"), flushes it and
// its directory to disk and renames it over `path`: readers see the old file or the new one,
// never a partial one, even if the process is killed. Each call first removes the temporaries
// of `path` left by writers that died (their process is gone and their lock released).
void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace tg
