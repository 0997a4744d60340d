// SPDX-License-Identifier: MIT
#pragma once
// Helpers shared by the viz sources: element indices for messages, and SVG text.
#include <cstdint>
#include <string>
#include <string_view>

#include "tapegrad/shape.hpp"

namespace tg::viz::detail {

// The multi-index of row-major element `flat` of `shape`, as "[1, 4]".
std::string index_string(const Shape& shape, std::int64_t flat);

// `text` with the five characters XML reserves replaced by entities, so that any title, label
// or class name can go inside an SVG element or attribute. Control characters XML 1.0 does
// not allow become spaces; the rest of the text is kept as it is (UTF-8 passes through).
std::string escape_xml(std::string_view text);

// A coordinate in an SVG: two decimals, "-0.00" written as "0.00", so that the same input
// always gives the same bytes.
std::string coord(double v);

}  // namespace tg::viz::detail
