// SPDX-License-Identifier: MIT
#pragma once
// Checkpoints of modules in the safetensors format, under the names of state_dict()
// ("0.weight", "3.running_mean"), so that a file loads into the same nn.Module in PyTorch
// with load_state_dict(safetensors.torch.load_file(path)).
#include <string>

#include "tapegrad/layers/module.hpp"

namespace tg {

// Writes m.state_dict() to `path`, atomically (write_file_atomic): a failed save, or a process
// killed at any point of it, leaves the previous file intact and loadable; the temporary a
// killed save leaves beside it is removed by the next save to `path`.
void save_module(const Module& m, const std::string& path);

// Loads a file written by save_module into m. A missing, truncated or corrupt file (including
// a dtype other than F32, F64, F16, BF16, I64 or BOOL) is an IoError; a file of another model (missing, extra or
// differently shaped tensors) is the ValueError or ShapeError of load_state_dict; every
// message names the file. The whole file is checked before any value is copied, so on any
// error every parameter and buffer of m is left exactly as it was. F64 tensors load into F32
// parameters, converted.
void load_module(Module& m, const std::string& path);

}  // namespace tg
