// SPDX-License-Identifier: MIT
#include "tapegrad/version.hpp"

namespace tg {
const char* version() noexcept { return TAPEGRAD_VERSION; }
}  // namespace tg
