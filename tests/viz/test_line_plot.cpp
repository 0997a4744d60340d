// SPDX-License-Identifier: MIT
// SVG line plots: tick values, the document's structure, where the points land, escaping,
// logarithmic axes, determinism and bad input.
#include <regex>
#include <sstream>

#include "viz/viz_test_util.hpp"

using Catch::Contains;
using tg::test::number_attribute;
using tg::test::tags_with_class;
using tg::test::texts_with_class;
using tg::test::xml_problem;
using tg::viz::LinePlot;
using tg::viz::Ticks;
using Strings = std::vector<std::string>;

namespace {

// The "x,y" pairs of a polyline's points attribute.
std::vector<std::pair<double, double>> points_of(const std::string& polyline) {
  std::smatch m;
  REQUIRE(std::regex_search(polyline, m, std::regex("points=\"([^\"]*)\"")));
  std::vector<std::pair<double, double>> out;
  std::istringstream in(m[1].str());
  for (std::string pair; in >> pair;) {
    auto comma = pair.find(',');
    out.emplace_back(std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1)));
  }
  return out;
}

struct Frame {
  double left, top, width, height;
};

Frame frame_of(const std::string& svg) {
  auto frames = tags_with_class(svg, "frame");
  REQUIRE(frames.size() == 1);
  return {number_attribute(frames[0], "x"), number_attribute(frames[0], "y"), number_attribute(frames[0], "width"),
          number_attribute(frames[0], "height")};
}

}  // namespace

TEST_CASE("linear_ticks picks 1-2-5 steps that cover the range", "[viz][plot]") {
  Ticks t = tg::viz::linear_ticks(1, 60);
  CHECK(t.labels == Strings{"0", "10", "20", "30", "40", "50", "60"});
  CHECK(t.values == std::vector<double>{0, 10, 20, 30, 40, 50, 60});
  CHECK(t.lo == 0);
  CHECK(t.hi == 60);
  CHECK(tg::viz::linear_ticks(0.55, 0.9).labels == Strings{"0.5", "0.6", "0.7", "0.8", "0.9"});
  CHECK(tg::viz::linear_ticks(0.55, 0.9).values[1] == 0.6);  // 6 / 10, not 6 x 0.1
  CHECK(tg::viz::linear_ticks(-3.2, 7.9).labels == Strings{"-4", "-2", "0", "2", "4", "6", "8"});
  CHECK(tg::viz::linear_ticks(0, 0.00123).labels == Strings{"0.0000", "0.0005", "0.0010", "0.0015"});
  CHECK(tg::viz::linear_ticks(1, 10).labels == Strings{"0", "2", "4", "6", "8", "10"});
  CHECK(tg::viz::linear_ticks(1, 10, 11).labels.size() == 10);  // room for steps of 1
  CHECK(tg::viz::linear_ticks(1, 3).labels == Strings{"1.0", "1.5", "2.0", "2.5", "3.0"});
  CHECK(tg::viz::linear_ticks(1, 3, 7, true).labels == Strings{"1", "2", "3"});
  CHECK(tg::viz::linear_ticks(1, 1, 7, true).labels == Strings{"0", "1", "2"});
  Ticks one = tg::viz::linear_ticks(5, 5);  // one value: the range around it
  CHECK(one.lo < 5);
  CHECK(one.hi > 5);
  CHECK(one.values.size() <= 7);
  CHECK(tg::viz::linear_ticks(0, 0).labels == Strings{"-1.0", "-0.5", "0.0", "0.5", "1.0"});

  CHECK_THROWS_WITH(tg::viz::linear_ticks(2, 1), Contains("linear_ticks: the range [2, 1] is not a finite interval"));
  CHECK_THROWS_WITH(tg::viz::linear_ticks(0, std::nan("")), Contains("not a finite interval"));
  CHECK_THROWS_WITH(tg::viz::linear_ticks(0, 1, 1), Contains("max_ticks is 1; an axis needs at least 2"));
}

TEST_CASE("log_ticks puts ticks at powers of ten", "[viz][plot]") {
  Ticks t = tg::viz::log_ticks(3e-5, 12);
  CHECK(t.labels == Strings{"1e-5", "1e-4", "1e-3", "0.01", "0.1", "1", "10", "100"});
  CHECK(t.lo == 1e-5);
  CHECK(t.hi == 100);
  CHECK(t.values[3] == 0.01);
  // Two decades or less: 2 and 5 in between too.
  CHECK(tg::viz::log_ticks(2, 40).labels == Strings{"1", "2", "5", "10", "20", "50", "100"});
  CHECK(tg::viz::log_ticks(10, 10).labels == Strings{"10", "20", "50", "100"});
  // Many decades: every third power.
  CHECK(tg::viz::log_ticks(1e-12, 1e3).labels == Strings{"1e-12", "1e-9", "1e-6", "1e-3", "1", "1e3"});
  CHECK_THROWS_WITH(tg::viz::log_ticks(0, 1),
                    Contains("log_ticks: the range [0, 1] reaches 0") && Contains("use a linear axis"));
  CHECK_THROWS_WITH(tg::viz::log_ticks(-1, 1), Contains("reaches -1"));
}

TEST_CASE("LinePlot draws axes, ticks, titles and a legend as well-formed SVG", "[viz][plot]") {
  LinePlot plot{.title = "loss per step", .x_label = "step", .y_label = "loss"};
  plot.add("train", {1, 2, 3, 4}, {0, 10, 20, 40});
  std::string svg = plot.svg();
  CHECK(xml_problem(svg) == "");
  CHECK(
      svg.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
                      "width=\"640\" height=\"400\""));
  CHECK(texts_with_class(svg, "title") == Strings{"loss per step"});
  CHECK(texts_with_class(svg, "x-label") == Strings{"step"});
  CHECK(texts_with_class(svg, "y-label") == Strings{"loss"});
  CHECK(texts_with_class(svg, "tick-x") == Strings{"1", "2", "3", "4"});  // whole x: whole ticks
  CHECK(texts_with_class(svg, "tick-y") == Strings{"0", "10", "20", "30", "40"});
  CHECK(tags_with_class(svg, "grid").size() == 4 + 5);
  CHECK_THAT(svg, Contains("<g class=\"legend\">") && Contains(">train</text>"));

  // Tick labels sit where their values map to.
  Frame f = frame_of(svg);
  CHECK(f.left == 72);
  CHECK(f.width == 640 - 72 - 20);
  auto ticks_y = tags_with_class(svg, "tick-y");
  CHECK(number_attribute(ticks_y.front(), "y") == Approx(f.top + f.height + 4));  // 0 at the bottom
  CHECK(number_attribute(ticks_y.back(), "y") == Approx(f.top + 4));              // 40 at the top

  // Every point lands at its place on the axes 1..4 and 0..40.
  auto lines = tags_with_class(svg, "series");
  REQUIRE(lines.size() == 1);
  auto points = points_of(lines[0]);
  std::vector<std::pair<double, double>> data = {{1, 0}, {2, 10}, {3, 20}, {4, 40}};
  REQUIRE(points.size() == data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    CHECK(points[i].first == Approx(f.left + (data[i].first - 1) / 3 * f.width).margin(0.006));
    CHECK(points[i].second == Approx(f.top + f.height - data[i].second / 40 * f.height).margin(0.006));
  }
  // x values that are not all whole get fractional ticks.
  LinePlot fractional;
  fractional.add("f", {0.5, 1.25}, {1, 2});
  CHECK(texts_with_class(fractional.svg(), "tick-x") == Strings{"0.4", "0.6", "0.8", "1.0", "1.2", "1.4"});

  // A dot per point, for a short series.
  CHECK(std::regex_search(svg, std::regex("<circle cx=\"72.00\" cy=\"344.00\" r=\"3\"")));
}

TEST_CASE("LinePlot with log_y maps y by its logarithm", "[viz][plot]") {
  LinePlot plot{.title = "log", .log_y = true};
  plot.add("loss", {100, 1, 0.01});
  std::string svg = plot.svg();
  CHECK(xml_problem(svg) == "");
  CHECK(texts_with_class(svg, "tick-y") == Strings{"0.01", "0.1", "1", "10", "100"});
  Frame f = frame_of(svg);
  auto points = points_of(tags_with_class(svg, "series").at(0));
  REQUIRE(points.size() == 3);
  CHECK(points[0].second == Approx(f.top).margin(0.006));                 // 100: the top
  CHECK(points[1].second == Approx(f.top + f.height / 2).margin(0.006));  // 1: halfway in log
  CHECK(points[2].second == Approx(f.top + f.height).margin(0.006));      // 0.01: the bottom
  // x = 1, 2, 3 from add(name, y).
  CHECK(points[0].first == Approx(f.left).margin(0.006));
  CHECK(points[2].first == Approx(f.left + f.width).margin(0.006));
}

TEST_CASE("LinePlot escapes text, colours series apart and is deterministic", "[viz][plot]") {
  auto make = [] {
    LinePlot plot{.title = "a < b & \"c\"", .x_label = "epoch's", .y_label = "<acc>"};
    plot.add("train <1>", {1, 2, 3}, {0.5, 0.6, 0.7});
    plot.add("test & more", {1, 2, 3}, {0.45, 0.55, 0.6});
    return plot;
  };
  std::string svg = make().svg();
  CHECK(xml_problem(svg) == "");
  CHECK(texts_with_class(svg, "title") == Strings{"a &lt; b &amp; &quot;c&quot;"});
  CHECK(texts_with_class(svg, "x-label") == Strings{"epoch&apos;s"});
  CHECK(texts_with_class(svg, "y-label") == Strings{"&lt;acc&gt;"});
  CHECK_THAT(svg, Contains(">train &lt;1&gt;</text>") && Contains(">test &amp; more</text>"));
  auto lines = tags_with_class(svg, "series");
  REQUIRE(lines.size() == 2);
  CHECK_THAT(lines[0], Contains("stroke=\"#1f77b4\""));
  CHECK_THAT(lines[1], Contains("stroke=\"#ff7f0e\""));

  CHECK(make().svg() == svg);
  tg::test::TempDir dir("viz_plot");
  make().write(dir.file("plot.svg"));
  CHECK(tg::test::read_bytes(dir.file("plot.svg")) == svg);

  LinePlot plain;
  plain.add("", {3, 1, 2});
  std::string no_legend = plain.svg();
  CHECK(xml_problem(no_legend) == "");
  CHECK_THAT(no_legend, !Contains("legend"));
  CHECK(tags_with_class(no_legend, "title").empty());
}

TEST_CASE("LinePlot puts the legend in a corner the lines leave free", "[viz][plot]") {
  auto legend_at = [](std::vector<double> y) {
    LinePlot plot;
    plot.add("line", std::move(y));
    std::string svg = plot.svg();
    std::smatch m;
    REQUIRE(std::regex_search(svg, m, std::regex("<g class=\"legend\">\n<rect x=\"([^\"]*)\" y=\"([^\"]*)\"")));
    Frame f = frame_of(svg);
    bool left = std::stod(m[1]) < f.left + f.width / 2, top = std::stod(m[2]) < f.top + f.height / 2;
    return std::string(top ? "top " : "bottom ") + (left ? "left" : "right");
  };
  CHECK(legend_at({10, 1}) == "top right");         // falling: through top left and bottom right
  CHECK(legend_at({1, 10}) == "top left");          // rising: through bottom left and top right
  CHECK(legend_at({10, 1, 10}) == "bottom right");  // a V: through both top corners
}

TEST_CASE("LinePlot marks the points of short series only", "[viz][plot]") {
  auto circles = [](std::size_t n) {
    LinePlot plot;
    plot.add("s", std::vector<double>(n, 1.0));
    std::string svg = plot.svg();
    std::ptrdiff_t count = 0;
    for (std::size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++count;
    return count;
  };
  CHECK(circles(1) == 1);
  CHECK(circles(25) == 25);
  CHECK(circles(26) == 0);
}

TEST_CASE("LinePlot rejects what it cannot draw", "[viz][plot]") {
  CHECK_THROWS_WITH(LinePlot{}.svg(), Contains("LinePlot::svg: the plot has no series; add one"));
  LinePlot empty;
  empty.add("e", std::vector<double>{});
  CHECK_THROWS_WITH(empty.svg(), Contains("series 'e' has no points"));
  LinePlot mismatch;
  mismatch.add("m", {1, 2, 3}, {1, 2});
  CHECK_THROWS_WITH(mismatch.svg(), Contains("series 'm' has 3 x values but 2 y values; give one x per y"));
  LinePlot nan;
  nan.add("n", {1, std::nan(""), 3});
  CHECK_THROWS_WITH(nan.svg(), Contains("point 1 of series 'n' is (2, nan); every coordinate must be finite"));
  LinePlot log{.log_y = true};
  log.add("loss", {1, 0.5, 0});
  CHECK_THROWS_AS(log.svg(), tg::ValueError);
  CHECK_THROWS_WITH(log.svg(), Contains("point 2 of series 'loss' has y = 0") && Contains("set log_y = false"));
  LinePlot small{.width = 100};
  small.add("s", {1});
  CHECK_THROWS_WITH(small.svg(), Contains("the plot is 100 x 400 pixels; width and height must be at least 200"));
  tg::test::TempDir dir("viz_plot_errors");
  LinePlot ok;
  ok.add("s", {1, 2});
  std::string unwritable = dir.file("missing/plot.svg");
  CHECK_THROWS_AS(ok.write(unwritable), tg::IoError);
  CHECK_THROWS_WITH(ok.write(unwritable), Contains("LinePlot::write: write " + unwritable));
}

TEST_CASE("the XML check used by these tests finds broken documents", "[viz][plot]") {
  CHECK(xml_problem("<svg><g></g><text x=\"1\">a &amp; b</text></svg>") == "");
  CHECK(xml_problem("<svg><g></svg>") != "");
  CHECK(xml_problem("<svg><text>a & b</text></svg>") != "");
  CHECK(xml_problem("<svg><text>a < b</text></svg>") != "");
  CHECK(xml_problem("<svg x=\"a<b\"/>") != "");
  CHECK(xml_problem("<svg x=a/>") != "");
  CHECK(xml_problem("<svg/><svg/>") != "");
  CHECK(xml_problem("<svg>") != "");
}
