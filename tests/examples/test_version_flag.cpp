// SPDX-License-Identifier: MIT
#include <string>
#include <utility>
#include <vector>

#include "test_util.hpp"

TEST_CASE("every example answers --version with its name and the library's version", "[example][version]") {
  tg::test::TempDir dir("version");
  const std::vector<std::pair<std::string, std::string>> programs = {{"edge_detection", TAPEGRAD_EDGE_DETECTION},
                                                                     {"lenet", TAPEGRAD_LENET},
                                                                     {"resnet", TAPEGRAD_RESNET},
                                                                     {"char_lm", TAPEGRAD_CHAR_LM}};
  for (const auto& [name, path] : programs) {
    INFO(name);
    const std::string out = (dir.path / (name + ".out")).string();
    REQUIRE(tg::test::run_program(path, "--version", out) == 0);
    CHECK(tg::test::read_bytes(out) == name + " (tapegrad " + tg::version() + ")\n");
  }
}
