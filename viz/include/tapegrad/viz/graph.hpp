#pragma once
// Writing a Graphviz graph (tg::to_dot, inspect.hpp) to a file, as DOT or rendered to SVG.
#include <string>

namespace tg::viz {

// Writes `dot` to `path`: as it is when path ends in ".dot"; rendered with Graphviz
// (`dot -Tsvg`, Debian's `graphviz` package) when it ends in ".svg". Atomic either way.
// Throws IoError for another extension, when Graphviz is missing (naming the package), or
// when it fails.
void write_graph(const std::string& path, const std::string& dot);

// Whether the Graphviz `dot` program is on PATH.
bool graphviz_available();

}  // namespace tg::viz
