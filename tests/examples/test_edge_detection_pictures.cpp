// SPDX-License-Identifier: MIT
// edge_detection --out: every picture is written, decodes, and shows what the run computed;
// stdout is the same with and without pictures.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "viz/viz_test_util.hpp"

using tg::test::decode_png;
using tg::test::read_bytes;
using tg::test::TempDir;
using tg::viz::Colormap;
using tg::viz::Rgb;

namespace {

// Runs edge_detection with `args`, stdout into `stdout_path`; returns its exit status.
int run(const std::string& args, const std::string& stdout_path, const std::string& stderr_path = "/dev/null") {
  std::string command = fmt::format("{} {} > {} 2> {}", TAPEGRAD_EDGE_DETECTION, args, stdout_path, stderr_path);
  return std::system(command.c_str());
}

tg::viz::Image png(const std::string& path) {
  INFO(path);
  REQUIRE(std::filesystem::exists(path));
  tg::viz::Image img = decode_png(read_bytes(path));
  REQUIRE(img.width > 0);
  return img;
}

Rgb diverging(double v, double m) { return tg::viz::color_at(Colormap::diverging, (v + m) / (2 * m)); }

}  // namespace

TEST_CASE("edge_detection --out writes the images, the kernel and the loss curve", "[example][viz]") {
  TempDir dir("edge_pictures");
  std::string out = dir.file("pictures/seed0");  // two levels that do not exist yet
  REQUIRE(run(fmt::format("--out {} --metrics {}", out, dir.file("m.json")), dir.file("with.txt"),
              dir.file("err.txt")) == 0);
  REQUIRE(run("", dir.file("without.txt")) == 0);
  CHECK(read_bytes(dir.file("with.txt")) == read_bytes(dir.file("without.txt")));
  CHECK_THAT(read_bytes(dir.file("err.txt")), Catch::Contains("edge_detection: pictures written to " + out));
  std::ifstream metrics_file(dir.file("m.json"));
  nlohmann::json metrics = nlohmann::json::parse(metrics_file);

  // X: 6 x 8 at 40 px a value; white, black in columns 2..5.
  tg::viz::Image X = png(out + "/X.png");
  CHECK(X.width == 320);
  CHECK(X.height == 240);
  CHECK(X.at(20, 20) == Rgb{255, 255, 255});
  CHECK(X.at(100, 200) == Rgb{0, 0, 0});
  CHECK(X.at(300, 100) == Rgb{255, 255, 255});

  // Y: 6 x 7, 1 at column 1 (white to black), -1 at column 5, 0 elsewhere. The three edge
  // maps share a range [-m, m]: 0 is white, 1 and -1 mirror each other around it.
  tg::viz::Image Y = png(out + "/Y.png");
  CHECK(Y.width == 280);
  CHECK(Y.height == 240);
  CHECK(Y.at(10, 10) == Rgb{255, 255, 255});
  CHECK(Y.at(140, 120) == Rgb{255, 255, 255});
  Rgb plus = Y.at(60, 10), minus = Y.at(220, 230);
  CHECK((plus[0] > plus[2] && minus[2] > minus[0]));  // red, blue
  double m = -1;
  for (double candidate = 1; candidate < 100 && m < 0; candidate += 1e-4)
    if (diverging(1, candidate) == plus && diverging(-1, candidate) == minus) m = candidate;
  CHECK(m >= 1);

  // After 60 steps the prediction is Y to within a few colour levels; at the start it is not.
  // The largest |value| of the three maps is drawn in an end colour.
  tg::viz::Image end = png(out + "/Y_hat_end.png"), start = png(out + "/Y_hat_start.png");
  REQUIRE(end.rgb.size() == Y.rgb.size());
  REQUIRE(start.rgb.size() == Y.rgb.size());
  int worst = 0;
  for (std::size_t i = 0; i < Y.rgb.size(); ++i) worst = std::max(worst, std::abs(end.rgb[i] - Y.rgb[i]));
  CHECK(worst <= 3);
  CHECK(start.rgb != Y.rgb);
  bool reaches_end = false;
  for (const tg::viz::Image* img : {&Y, &start, &end})
    for (int x = 0; x < img->width; x += 40)
      reaches_end |= img->at(x, 0) == Rgb{178, 24, 43} || img->at(x, 0) == Rgb{33, 102, 172};
  CHECK(reaches_end);

  // The kernel [1, 2] at 80 px a value, in the diverging map over [-m, m], m = max |weight|.
  tg::viz::Image kernel = png(out + "/kernel.png");
  CHECK(kernel.width == 160);
  CHECK(kernel.height == 80);
  double w0 = metrics["weight"][0], w1 = metrics["weight"][1];
  double k = std::max(std::abs(w0), std::abs(w1));
  CHECK(kernel.at(40, 40) == diverging(w0, k));
  CHECK(kernel.at(120, 40) == diverging(w1, k));
  CHECK(kernel.at(40, 40) == Rgb{178, 24, 43});  // w0 ~ 1 is the larger |weight|

  // The loss curve: 60 points on a log axis, each where its loss maps to.
  std::string svg = read_bytes(out + "/loss.svg");
  CHECK(tg::test::xml_problem(svg) == "");
  auto ticks = tg::test::texts_with_class(svg, "tick-y");
  REQUIRE(ticks.size() >= 2);
  double lo = std::log10(std::stod(ticks.front())), hi = std::log10(std::stod(ticks.back()));
  auto frame = tg::test::tags_with_class(svg, "frame");
  REQUIRE(frame.size() == 1);
  double top = tg::test::number_attribute(frame[0], "y"), height = tg::test::number_attribute(frame[0], "height");
  std::vector<double> loss = metrics["loss"];
  REQUIRE(loss.size() == 60);
  auto lines = tg::test::tags_with_class(svg, "series");
  REQUIRE(lines.size() == 1);
  std::smatch points;
  REQUIRE(std::regex_search(lines[0], points, std::regex("points=\"([^\"]*)\"")));
  std::istringstream in(points[1].str());
  std::size_t i = 0;
  for (std::string pair; in >> pair; ++i) {
    REQUIRE(i < loss.size());
    double y = std::stod(pair.substr(pair.find(',') + 1));
    CHECK(y == Approx(top + height * (hi - std::log10(loss[i])) / (hi - lo)).margin(0.006));
  }
  CHECK(i == loss.size());
}

TEST_CASE("edge_detection --out without steps draws no loss curve, and a bad --out fails", "[example][viz]") {
  TempDir dir("edge_pictures_edge_cases");
  REQUIRE(run(fmt::format("--steps 0 --out {}", dir.file("zero")), "/dev/null") == 0);
  for (const char* name : {"X.png", "Y.png", "Y_hat_start.png", "Y_hat_end.png", "kernel.png"})
    CHECK(std::filesystem::exists(dir.file("zero") + "/" + name));
  CHECK_FALSE(std::filesystem::exists(dir.file("zero/loss.svg")));
  // Before and after zero steps, the prediction is the same.
  CHECK(read_bytes(dir.file("zero/Y_hat_start.png")) == read_bytes(dir.file("zero/Y_hat_end.png")));

  tg::test::write_bytes(dir.file("a_file"), "not a directory");
  CHECK(run(fmt::format("--out {}", dir.file("a_file/pictures")), "/dev/null", dir.file("err.txt")) != 0);
  CHECK_THAT(
      read_bytes(dir.file("err.txt")),
      Catch::Contains("edge_detection --out: cannot create the output directory " + dir.file("a_file/pictures")));
}
