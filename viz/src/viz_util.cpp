// SPDX-License-Identifier: MIT
#include "viz_util.hpp"

#include <cmath>

#include <fmt/format.h>

namespace tg::viz::detail {

std::string index_string(const Shape& shape, std::int64_t flat) {
  auto strides = shape.strides();
  std::string out = "[";
  for (int d = 0; d < shape.rank(); ++d) {
    std::int64_t stride = strides[static_cast<std::size_t>(d)];
    out += fmt::format("{}{}", d ? ", " : "", flat / stride);
    flat %= stride;
  }
  return out + "]";
}

std::string escape_xml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      // XML 1.0 allows no control characters other than tab, newline and carriage return.
      default:
        out += (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') ? ' ' : c;
    }
  }
  return out;
}

std::string coord(double v) {
  std::string s = fmt::format("{:.2f}", v);
  return s == "-0.00" ? "0.00" : s;
}

}  // namespace tg::viz::detail
