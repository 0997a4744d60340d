// SPDX-License-Identifier: MIT
#pragma once
// Reading a tape explorer page (TapeRecorder::write_html) back in the tests: the data it
// embeds, and whether it fetches anything.
#include <regex>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace tg::test {

// The JSON the page embeds (its <script id="data">).
inline nlohmann::json explorer_data(const std::string& html) {
  const std::string open = "<script id=\"data\" type=\"application/json\">";
  const std::size_t start = html.find(open);
  REQUIRE(start != std::string::npos);
  const std::size_t end = html.find("</script>", start);
  REQUIRE(end != std::string::npos);
  const std::string text = html.substr(start + open.size(), end - start - open.size());
  return nlohmann::json::parse(std::regex_replace(text, std::regex("<\\\\/"), "</"));
}

// Whether the page refers to anything outside itself: a script, style, image or link to fetch.
inline bool fetches_anything(const std::string& html) {
  return std::regex_search(html, std::regex("(src|href)=\"(https?:)?//")) ||
         std::regex_search(html, std::regex("<link[^>]*stylesheet")) ||
         std::regex_search(html, std::regex("url\\((https?:)?//"));
}

}  // namespace tg::test
