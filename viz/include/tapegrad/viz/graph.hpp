// SPDX-License-Identifier: MIT
#pragma once
// Writing a Graphviz graph (tg::to_dot, inspect.hpp) to a file, as DOT or rendered to SVG.
#include <string>

namespace tg::viz {

// Writes `dot` to `path`: as it is when path ends in ".dot"; rendered with Graphviz
// (`dot -Tsvg`, Debian's `graphviz` package) when it ends in ".svg". Atomic either way.
// Throws IoError for another extension, when Graphviz is missing (naming the package), or
// when it fails.
void write_graph(const std::string& path, const std::string& dot);

// `dot` rendered by Graphviz as SVG text (through a temporary file). Throws IoError when
// Graphviz is missing or fails, with its messages, or has not finished after timeout_seconds
// (0: no limit; dot's layout can take minutes on a graph of a thousand nodes).
std::string render_svg(const std::string& dot, double timeout_seconds = 0);

// Whether the Graphviz `dot` program is on PATH.
bool graphviz_available();

}  // namespace tg::viz
