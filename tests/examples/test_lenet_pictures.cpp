// SPDX-License-Identifier: MIT
// lenet --out on a few hundred images: the curves hold the printed numbers, the confusion
// matrix adds up to the test set and its accuracy, the filter grid has its size, and the
// printed output and metrics do not change.
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "viz/viz_test_util.hpp"

using tg::test::read_bytes;
using tg::test::tags_with_class;
using tg::test::TempDir;
using tg::test::texts_with_class;
using tg::test::xml_problem;
using Strings = std::vector<std::string>;

namespace {

const std::string kTiny = "--recipe modern --epochs 2 --limit 600 --test-limit 300 --batch-size 100 --seed 3";

// Runs lenet with `args`, stdout into `stdout_path`; returns its exit status.
int run(const std::string& args, const std::string& stdout_path, const std::string& stderr_path) {
  std::string command = fmt::format("{} {} > {} 2> {}", TAPEGRAD_LENET, args, stdout_path, stderr_path);
  return std::system(command.c_str());
}

// Lines of `text` without their last field (img_per_s or its CSV column: timings differ).
Strings without_timing(const std::string& text, char separator) {
  Strings out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line.substr(0, line.rfind(separator)));
  return out;
}

// Field `column` of each CSV row after the header.
std::vector<double> csv_column(const std::string& csv, int column) {
  std::vector<double> out;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string field;
    for (int c = 0; c <= column; ++c) std::getline(fields, field, ',');
    out.push_back(std::stod(field));
  }
  return out;
}

// The y pixel of each point of the polylines in `svg`, one vector per series.
std::vector<std::vector<double>> series_y(const std::string& svg) {
  std::vector<std::vector<double>> out;
  for (const std::string& line : tags_with_class(svg, "series")) {
    std::smatch m;
    REQUIRE(std::regex_search(line, m, std::regex("points=\"([^\"]*)\"")));
    std::istringstream in(m[1].str());
    out.emplace_back();
    for (std::string pair; in >> pair;) out.back().push_back(std::stod(pair.substr(pair.find(',') + 1)));
  }
  return out;
}

// Where value v of a linear y axis lands, from the frame and the first and last tick.
double y_pixel(const std::string& svg, double v) {
  auto frame = tags_with_class(svg, "frame");
  REQUIRE(frame.size() == 1);
  auto ticks = texts_with_class(svg, "tick-y");
  double lo = std::stod(ticks.front()), hi = std::stod(ticks.back());
  double top = tg::test::number_attribute(frame[0], "y"), height = tg::test::number_attribute(frame[0], "height");
  return top + height * (hi - v) / (hi - lo);
}

}  // namespace

TEST_CASE("lenet --out draws the curves, the confusion matrix and conv1's filters", "[example][lenet][viz]") {
  TempDir dir("lenet_pictures");
  std::string out = dir.file("pictures");
  REQUIRE(run(fmt::format("{} --out {} --metrics {}", kTiny, out, dir.file("with.csv")), dir.file("with.txt"),
              dir.file("err.txt")) == 0);
  REQUIRE(run(fmt::format("{} --metrics {}", kTiny, dir.file("without.csv")), dir.file("without.txt"), "/dev/null") ==
          0);
  // The pictures change nothing that is printed or recorded.
  CHECK(without_timing(read_bytes(dir.file("with.txt")), ' ') ==
        without_timing(read_bytes(dir.file("without.txt")), ' '));
  std::string csv = read_bytes(dir.file("with.csv"));
  CHECK(without_timing(csv, ',') == without_timing(read_bytes(dir.file("without.csv")), ','));
  CHECK_THAT(read_bytes(dir.file("err.txt")),
             Catch::Contains(
                 "lenet: wrote loss.svg, accuracy.svg, confusion.svg, confusion.png, conv1_filters.png to " + out));
  std::vector<double> loss = csv_column(csv, 1), train_acc = csv_column(csv, 2), test_acc = csv_column(csv, 3);
  REQUIRE(loss.size() == 2);

  std::string loss_svg = read_bytes(out + "/loss.svg");
  CHECK(xml_problem(loss_svg) == "");
  CHECK(texts_with_class(loss_svg, "tick-x") == Strings{"1", "2"});
  auto loss_y = series_y(loss_svg);
  REQUIRE(loss_y.size() == 1);
  REQUIRE(loss_y[0].size() == 2);
  for (std::size_t e = 0; e < 2; ++e) CHECK(loss_y[0][e] == Approx(y_pixel(loss_svg, loss[e])).margin(0.01));

  std::string accuracy_svg = read_bytes(out + "/accuracy.svg");
  CHECK(xml_problem(accuracy_svg) == "");
  CHECK_THAT(accuracy_svg, Catch::Contains(">train</text>") && Catch::Contains(">test</text>"));
  auto accuracy_y = series_y(accuracy_svg);
  REQUIRE(accuracy_y.size() == 2);
  for (std::size_t e = 0; e < 2; ++e) {
    // The CSV rounds to 6 decimals: a millionth is far below a hundredth of a pixel here.
    CHECK(accuracy_y[0][e] == Approx(y_pixel(accuracy_svg, train_acc[e])).margin(0.01));
    CHECK(accuracy_y[1][e] == Approx(y_pixel(accuracy_svg, test_acc[e])).margin(0.01));
  }

  // The confusion matrix counts the 300 test images; its diagonal is the last test accuracy.
  std::string confusion_svg = read_bytes(out + "/confusion.svg");
  CHECK(xml_problem(confusion_svg) == "");
  Strings names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  CHECK(texts_with_class(confusion_svg, "true-class") == names);
  CHECK(texts_with_class(confusion_svg, "predicted-class") == names);
  Strings counts = texts_with_class(confusion_svg, "count");
  REQUIRE(counts.size() == 100);
  double total = 0, diagonal = 0;
  for (std::size_t i = 0; i < 100; ++i) {
    total += std::stod(counts[i]);
    if (i / 10 == i % 10) diagonal += std::stod(counts[i]);
  }
  CHECK(total == 300);
  // Row r (true class r) holds every test image labelled r.
  std::vector<double> per_class(10, 0.0), row_sums(10, 0.0);
  tg::FashionMNIST test = tg::FashionMNIST("", /*train=*/false).subset(300);
  for (std::uint8_t label : test.label_bytes()) per_class[label] += 1;
  for (std::size_t i = 0; i < 100; ++i) row_sums[i / 10] += std::stod(counts[i]);
  CHECK(row_sums == per_class);
  CHECK(diagonal / 300 == Approx(test_acc.back()).margin(1e-6));
  CHECK_THAT(confusion_svg, Catch::Contains(fmt::format("after epoch 2 (accuracy {:.4f})", test_acc.back())));

  tg::viz::Image confusion_png = tg::test::decode_png(read_bytes(out + "/confusion.png"));
  CHECK(confusion_png.width == 240);
  CHECK(confusion_png.height == 240);
  // conv1's 6 filters of 5 x 5 at 24 px, 3 columns and 2 rows with 4 px gaps.
  tg::viz::Image filters = tg::test::decode_png(read_bytes(out + "/conv1_filters.png"));
  CHECK(filters.width == 3 * 120 + 4 * 4);
  CHECK(filters.height == 2 * 120 + 3 * 4);
  CHECK(filters.at(0, 0) == tg::viz::Rgb{128, 128, 128});
}
