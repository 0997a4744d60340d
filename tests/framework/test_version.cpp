// SPDX-License-Identifier: MIT
#include <string>

#include <fmt/core.h>
#include <catch2/catch.hpp>

#include "tapegrad/tapegrad.hpp"

TEST_CASE("the library's version is the headers' and reads MAJOR.MINOR.PATCH", "[version]") {
  // A program built against one version's headers and linked with another's library sees it here.
  CHECK(std::string(tg::version()) == TAPEGRAD_VERSION);
  CHECK(std::string(TAPEGRAD_VERSION) ==
        fmt::format("{}.{}.{}", TAPEGRAD_VERSION_MAJOR, TAPEGRAD_VERSION_MINOR, TAPEGRAD_VERSION_PATCH));
  static_assert(TAPEGRAD_VERSION_NUMBER ==
                TAPEGRAD_VERSION_MAJOR * 10000 + TAPEGRAD_VERSION_MINOR * 100 + TAPEGRAD_VERSION_PATCH);
  CHECK(TAPEGRAD_VERSION_MINOR < 100);
  CHECK(TAPEGRAD_VERSION_PATCH < 100);
}
