// SPDX-License-Identifier: MIT
#pragma once
// Hugging Face's safetensors format, the checkpoint format PyTorch users share weights in:
//   8 bytes   N, the header length (unsigned, little-endian)
//   N bytes   a JSON object {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
//             ..., "__metadata__": {"key": "value"}}, padded with spaces
//   the rest  the data buffer: every tensor's bytes (row-major, little-endian), contiguous;
//             data_offsets are [begin, end) relative to the buffer's start
// A file written here loads with safetensors.torch.load_file, and the other way round: F32, F64,
// I64 and BOOL tensors load as they are, F16 and BF16 (half-precision checkpoints) as float32.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

// Writes `tensors` (in that order) and `metadata` to `path`, atomically. Names must be
// unique, valid UTF-8 and not "__metadata__"; otherwise it throws ValueError and writes nothing.
void save_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors, const std::string& path,
                      const std::map<std::string, std::string>& metadata = {});

// Reads every tensor of a safetensors file, ordered by their position in the data buffer.
// The file is validated in full first (header length, JSON, dtypes, shapes, byte ranges that
// tile the buffer, unique names, bool bytes of 0 or 1); any problem is an IoError naming the file.
std::vector<std::pair<std::string, Tensor>> load_safetensors(const std::string& path);

// The "__metadata__" strings of a safetensors file (empty if it has none), validated as above.
std::map<std::string, std::string> load_safetensors_metadata(const std::string& path);

}  // namespace tg
