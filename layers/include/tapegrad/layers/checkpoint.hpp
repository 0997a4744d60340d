#pragma once
// Checkpoints of modules in the safetensors format, under the names of state_dict()
// ("0.weight", "3.running_mean"), so that a file loads into the same nn.Module in PyTorch
// with load_state_dict(safetensors.torch.load_file(path)).
#include <string>

#include "tapegrad/layers/module.hpp"

namespace tg {

// Writes m.state_dict() to `path`, atomically: a failed save leaves an existing file intact.
void save_module(const Module& m, const std::string& path);

// Loads a file written by save_module into m. A missing, truncated or corrupt file is an
// IoError; a file of another model (missing, extra or differently shaped tensors) is the
// ValueError or ShapeError of load_state_dict; every message names the file. On any error
// m is left exactly as it was.
void load_module(Module& m, const std::string& path);

}  // namespace tg
