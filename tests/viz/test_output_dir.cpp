// SPDX-License-Identifier: MIT
#include <filesystem>

#include "tapegrad/viz/output_dir.hpp"
#include "test_util.hpp"

TEST_CASE("output_dir creates the directory and its parents, and accepts one that exists", "[viz]") {
  tg::test::TempDir dir("output_dir");
  const std::string nested = (dir.path / "a" / "b" / "c").string();
  REQUIRE_FALSE(std::filesystem::exists(nested));
  const std::filesystem::path made = tg::viz::output_dir("test", nested);
  CHECK(made == std::filesystem::path(nested));
  CHECK(std::filesystem::is_directory(nested));
  tg::test::write_bytes((made / "kept.txt").string(), "x");
  CHECK(tg::viz::output_dir("test", nested) == made);  // again: no error, contents kept
  CHECK(tg::test::read_bytes((made / "kept.txt").string()) == "x");
}

TEST_CASE("output_dir names the caller, the path and the fix when it cannot make a directory", "[viz]") {
  tg::test::TempDir dir("output_dir");
  const std::string file = (dir.path / "a_file").string();
  tg::test::write_bytes(file, "not a directory");
  // Below a regular file: cannot be created.
  CHECK_THROWS_AS(tg::viz::output_dir("lenet --out", file + "/pictures"), tg::IoError);
  CHECK_THROWS_WITH(tg::viz::output_dir("lenet --out", file + "/pictures"),
                    Catch::StartsWith("lenet --out: cannot create the output directory " + file + "/pictures") &&
                        Catch::Contains("choose a writable path"));
  // The path is the regular file itself.
  CHECK_THROWS_AS(tg::viz::output_dir("lenet --out", file), tg::IoError);
  CHECK_THROWS_WITH(tg::viz::output_dir("lenet --out", file), Catch::StartsWith("lenet --out: ") &&
                                                                  Catch::Contains(file) &&
                                                                  Catch::Contains("choose a directory"));
  CHECK(tg::test::read_bytes(file) == "not a directory");
  CHECK_THROWS_WITH(tg::viz::output_dir("x --out", ""),
                    Catch::StartsWith("x --out: ") && Catch::Contains("empty path"));
}
