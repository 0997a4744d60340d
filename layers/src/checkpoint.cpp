// SPDX-License-Identifier: MIT
#include "tapegrad/layers/checkpoint.hpp"

#include "tapegrad/error.hpp"
#include "tapegrad/safetensors.hpp"

namespace tg {

void save_module(const Module& m, const std::string& path) { save_safetensors(m.state_dict(), path); }

void load_module(Module& m, const std::string& path) {
  // load_safetensors validates the whole file before load_state_dict checks every name and
  // shape, and only then copies: no error can leave the module half loaded.
  auto state = load_safetensors(path);
  try {
    m.load_state_dict(state);
  } catch (const ShapeError& e) {
    fail<ShapeError>("load_module {}: {}", path, e.what());
  } catch (const ValueError& e) {
    fail<ValueError>("load_module {}: {}", path, e.what());
  }
}

}  // namespace tg
