// SPDX-License-Identifier: MIT
#include <cstdlib>
#include <filesystem>

#include "viz_test_util.hpp"

namespace {

// A small graph with a named leaf, to draw.
std::string seed_graph() {
  tg::Tensor w = tg::Tensor{{1.0f, -1.0f}}.requires_grad_();
  tg::Tensor x = tg::ones({2, 3});
  tg::Tensor loss = tg::corr2d(x, w).square().sum();
  return tg::to_dot(loss, {{"weight", w}});
}

}  // namespace

TEST_CASE("write_graph writes DOT as it is, atomically", "[viz][inspect]") {
  tg::test::TempDir dir("graph");
  const std::string dot = seed_graph();
  const std::string path = (dir.path / "g.dot").string();
  tg::viz::write_graph(path, dot);
  CHECK(tg::test::read_bytes(path) == dot);
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("write_graph rejects other extensions and leaves nothing behind", "[viz][inspect]") {
  tg::test::TempDir dir("graph");
  const std::string path = (dir.path / "g.png").string();
  REQUIRE_THROWS_WITH(tg::viz::write_graph(path, seed_graph()), Catch::Contains("write_graph") &&
                                                                    Catch::Contains("g.png") &&
                                                                    Catch::Contains(".dot") && Catch::Contains(".svg"));
  CHECK(std::filesystem::is_empty(dir.path));
}

TEST_CASE("write_graph without Graphviz names the package and keeps the old file", "[viz][inspect]") {
  tg::test::TempDir dir("graph");
  const std::string path = (dir.path / "g.svg").string();
  tg::test::write_bytes(path, "old");
  {
    tg::test::ScopedEnv no_dot("PATH", dir.path.string());  // a PATH with no `dot` on it
    CHECK_FALSE(tg::viz::graphviz_available());
    REQUIRE_THROWS_AS(tg::viz::write_graph(path, seed_graph()), tg::IoError);
    REQUIRE_THROWS_WITH(tg::viz::write_graph(path, seed_graph()), Catch::Contains("apt-get install graphviz"));
  }
  CHECK(tg::test::read_bytes(path) == "old");
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("write_graph renders SVG with Graphviz", "[viz][inspect]") {
  if (!tg::viz::graphviz_available()) {
    TG_SKIP("Graphviz's dot is not installed (apt-get install graphviz)");
    return;
  }
  tg::test::TempDir dir("graph");
  const std::string path = (dir.path / "it's a graph.svg").string();  // no shell reads the name
  tg::viz::write_graph(path, seed_graph());
  const std::string svg = tg::test::read_bytes(path);
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("weight") != std::string::npos);  // the named leaf
  CHECK(svg.find("corr2d") != std::string::npos);  // an op node
  // Graphviz writes a comment per node; the well-formedness check reads elements only.
  const std::string body = std::regex_replace(svg.substr(svg.find("<svg")), std::regex("<!--[^]*?-->"), "");
  CHECK(tg::test::xml_problem(body) == "");
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path), std::filesystem::directory_iterator()) == 1);

  SECTION("a source Graphviz rejects is an IoError with its message, and the old file stays") {
    REQUIRE_THROWS_WITH(tg::viz::write_graph(path, "digraph { a -> }"),
                        Catch::Contains("Graphviz failed") && Catch::Contains("syntax error"));
    CHECK(tg::test::read_bytes(path) == svg);
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path), std::filesystem::directory_iterator()) == 1);
  }
}
