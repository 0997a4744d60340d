// SPDX-License-Identifier: MIT
#pragma once
// The tape explorer's page template, viz/src/tape_explorer.html, embedded at build time
// (cmake/embed_file.cmake writes its definition).
#include <string>

namespace tg::viz::detail {

std::string tape_explorer_page();

}  // namespace tg::viz::detail
