// SPDX-License-Identifier: MIT
#include "tapegrad/optim/checkpoint.hpp"

#include "tapegrad/error.hpp"
#include "tapegrad/safetensors.hpp"

namespace tg {

void save_optimizer(const Optimizer& opt, const std::string& path) { save_safetensors(opt.state_dict(), path); }

void load_optimizer(Optimizer& opt, const std::string& path) {
  auto state = load_safetensors(path);
  try {
    opt.load_state_dict(state);
  } catch (const ShapeError& e) {
    fail<ShapeError>("load_optimizer {}: {}", path, e.what());
  } catch (const ValueError& e) {
    fail<ValueError>("load_optimizer {}: {}", path, e.what());
  }
}

}  // namespace tg
