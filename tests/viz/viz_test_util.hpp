// SPDX-License-Identifier: MIT
#pragma once
// Helpers for the viz tests: an independent PNG decoder (stb_image, from Debian's libstb), a
// small XML well-formedness check, and access to SVG elements by class.
#include <stb_image.h>

#include <cctype>
#include <regex>
#include <string>
#include <vector>

#include "tapegrad/viz.hpp"
#include "test_util.hpp"

namespace tg::test {

// Decodes PNG bytes to 8-bit RGB; an image of width 0 when stb_image cannot read them.
inline viz::Image decode_png(const std::string& bytes) {
  int w = 0, h = 0, channels = 0;
  stbi_uc* pixels = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                          static_cast<int>(bytes.size()), &w, &h, &channels, 3);
  if (!pixels) return {};
  viz::Image out{w, h, std::vector<std::uint8_t>(pixels, pixels + static_cast<std::size_t>(w) * h * 3)};
  stbi_image_free(pixels);
  return out;
}

// "" if `xml` is well-formed as far as an SVG writer can go wrong: one root element, every
// element closed in order, attribute values quoted, and no bare '<' or '&' in text or
// attributes (only the five predefined entities and numeric references). Otherwise what is
// wrong, and where.
inline std::string xml_problem(const std::string& xml) {
  static const std::regex entity("^&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);");
  auto bad_char_data = [&](const std::string& text, char quote) -> std::string {
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '<' || (quote && text[i] == quote)) return fmt::format("'{}' in '{}'", text[i], text);
      if (text[i] == '&' && !std::regex_search(text.substr(i), entity)) return fmt::format("bare '&' in '{}'", text);
    }
    return "";
  };
  std::vector<std::string> open;
  int roots = 0;
  std::size_t i = 0;
  if (xml.rfind("<?xml", 0) == 0) i = xml.find("?>") + 2;
  while (i < xml.size()) {
    std::size_t lt = xml.find('<', i);
    std::string text = xml.substr(i, lt == std::string::npos ? std::string::npos : lt - i);
    if (std::string p = bad_char_data(text, 0); !p.empty()) return p;
    if (open.empty() && text.find_first_not_of(" \t\r\n") != std::string::npos)
      return fmt::format("text outside the root element: '{}'", text);
    if (lt == std::string::npos) break;
    // A tag: find its end, skipping '>' inside quoted attribute values.
    std::size_t j = lt + 1;
    char quote = 0;
    for (; j < xml.size() && (quote || xml[j] != '>'); ++j)
      if (xml[j] == '"' || xml[j] == '\'') quote = quote == xml[j] ? 0 : (quote ? quote : xml[j]);
    if (j >= xml.size()) return fmt::format("unterminated tag at byte {}", lt);
    std::string tag = xml.substr(lt + 1, j - lt - 1);
    i = j + 1;
    if (tag.starts_with("/")) {
      if (open.empty() || open.back() != tag.substr(1))
        return fmt::format("</{}> closes {}", tag.substr(1), open.empty() ? "nothing" : "<" + open.back() + ">");
      open.pop_back();
      continue;
    }
    bool self_closing = tag.ends_with("/");
    if (self_closing) tag.pop_back();
    static const std::regex element(R"(^([A-Za-z][\w:.-]*)((\s+[A-Za-z][\w:.-]*\s*=\s*("[^"]*"|'[^']*'))*)\s*$)");
    std::smatch m;
    if (!std::regex_match(tag, m, element)) return fmt::format("malformed tag <{}>", tag);
    static const std::regex attribute(R"re(=\s*("([^"]*)"|'([^']*)'))re");
    std::string attrs = m[2];
    for (auto it = std::sregex_iterator(attrs.begin(), attrs.end(), attribute); it != std::sregex_iterator(); ++it)
      if (std::string p = bad_char_data((*it)[2].matched ? (*it)[2].str() : (*it)[3].str(), 0); !p.empty()) return p;
    if (open.empty() && ++roots > 1) return fmt::format("a second root element <{}>", m[1].str());
    if (!self_closing) open.push_back(m[1]);
  }
  if (!open.empty()) return fmt::format("<{}> is never closed", open.back());
  return roots == 1 ? "" : "no root element";
}

// The start tags (attributes and all, without '<' and '>') of the elements whose class is
// `cls`, in document order.
inline std::vector<std::string> tags_with_class(const std::string& svg, const std::string& cls) {
  std::vector<std::string> out;
  std::regex pattern("<([a-z]+ [^>]*class=\"" + cls + "\"[^>]*)>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), pattern); it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1]);
  return out;
}

// The text content of the elements whose class is `cls`, in document order.
inline std::vector<std::string> texts_with_class(const std::string& svg, const std::string& cls) {
  std::vector<std::string> out;
  std::regex pattern("<text [^>]*class=\"" + cls + "\"[^>]*>([^<]*)</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), pattern); it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1]);
  return out;
}

// The value of attribute `name` in a start tag, as a number.
inline double number_attribute(const std::string& tag, const std::string& name) {
  std::smatch m;
  REQUIRE(std::regex_search(tag, m, std::regex("\\s" + name + "=\"([^\"]*)\"")));
  return std::stod(m[1]);
}

}  // namespace tg::test
