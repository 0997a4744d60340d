// SPDX-License-Identifier: MIT
#pragma once
// Checkpoints of an optimizer's state (learning rate, momentum buffers, Adam moments and
// step counts) in the safetensors format, in a file of its own beside the model's, so the
// model file stays exactly what PyTorch's load_state_dict expects.
#include <string>

#include "tapegrad/optim/optimizer.hpp"

namespace tg {

// Writes opt.state_dict() to `path`, atomically, as save_module does: a save that fails or is
// killed leaves the previous file intact.
void save_optimizer(const Optimizer& opt, const std::string& path);
// Loads a file written by save_optimizer. A damaged file is an IoError; a file of another
// optimizer or model (an unknown, missing or differently shaped state, an invalid step
// count) is the ValueError or ShapeError of load_state_dict; every message names the file.
// Everything is checked before anything is replaced, so on any error opt (its learning rate
// and every state tensor) is left exactly as it was.
void load_optimizer(Optimizer& opt, const std::string& path);

}  // namespace tg
