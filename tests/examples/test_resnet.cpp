// SPDX-License-Identifier: MIT
// The ResNet-18 example end to end on a few hundred images: it learns, resuming matches an
// uninterrupted run, --resize reaches the network, --out draws the stem's filters, and bad
// input is a clear error. (The 10-epoch accuracy run is in docs/performance.md: it takes
// about half an hour.)
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "test_util.hpp"
#include "viz/explorer_page.hpp"

namespace {

// Runs resnet with `args` (stdout to /dev/null, stderr to `stderr_path`); returns its status.
int run(const std::string& args, const std::string& stderr_path = "/dev/null") {
  return tg::test::run_program(TAPEGRAD_RESNET, args, "/dev/null", stderr_path);
}

// The metrics CSV rows split into fields, without the header.
std::vector<std::vector<std::string>> metric_rows(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(tg::test::read_bytes(path));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::istringstream f(line);
    for (std::string field; std::getline(f, field, ',');) fields.push_back(field);
    rows.push_back(fields);
  }
  return rows;
}

const std::string kTiny = "--resize 28 --limit 256 --test-limit 128 --batch-size 64 --seed 5";

}  // namespace

TEST_CASE("resnet's training loss falls and its training accuracy leaves chance behind", "[example][resnet]") {
  tg::test::TempDir dir("resnet_learns");
  const std::string metrics = dir.file("metrics.csv");
  REQUIRE(run(fmt::format("--resize 28 --limit 1024 --test-limit 128 --batch-size 128 --epochs 2 --metrics {}",
                          metrics)) == 0);
  CHECK_THAT(tg::test::read_bytes(metrics), Catch::StartsWith("epoch,loss,train_acc,test_acc,img_per_s\n"));
  auto rows = metric_rows(metrics);
  REQUIRE(rows.size() == 2);
  // Note: not the test accuracy. After 16 steps the batch-norm running statistics still lag
  // the weights, and evaluation sits near chance; PyTorch's twin does the same.
  CHECK(std::stod(rows[1][1]) < std::stod(rows[0][1]));
  CHECK(std::stod(rows[1][2]) > 0.3);  // chance is 0.1
}

TEST_CASE("resnet resumed from a checkpoint matches an uninterrupted run", "[example][resnet]") {
  tg::test::TempDir dir("resnet_resume");
  const std::string straight = dir.file("straight.csv"), resumed = dir.file("resumed.csv"),
                    checkpoint = dir.file("ck.safetensors");
  REQUIRE(run(fmt::format("{} --epochs 2 --metrics {}", kTiny, straight)) == 0);
  REQUIRE(run(fmt::format("{} --epochs 1 --metrics {} --save {}", kTiny, resumed, checkpoint)) == 0);
  REQUIRE(run(fmt::format("{} --epochs 2 --metrics {} --resume {}", kTiny, resumed, checkpoint)) == 0);
  auto a = metric_rows(straight), b = metric_rows(resumed);
  REQUIRE(a.size() == 2);
  REQUIRE(b.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    a[i].pop_back();  // img_per_s: a timing
    b[i].pop_back();
    CHECK(a[i] == b[i]);
  }
  // The batch-norm running statistics are in the checkpoint under PyTorch's names.
  std::set<std::string> names;
  for (const auto& [name, tensor] : tg::load_safetensors(checkpoint)) names.insert(name);
  CHECK(names.count("0.1.running_mean"));
  CHECK(names.count("4.0.bn2.running_var"));
  CHECK(names.count("4.0.conv3.weight"));
  CHECK(names.count("7.weight"));
}

TEST_CASE("resnet --resize hands the network images of that size", "[example][resnet][inspect]") {
  tg::test::TempDir dir("resnet_resize");
  const std::string dot = dir.file("first_step.dot");
  REQUIRE(run(fmt::format("--resize 40 --limit 32 --test-limit 32 --batch-size 32 --epochs 1 --graph {}", dot)) == 0);
  // The resized batch is the graph's one constant input.
  CHECK_THAT(tg::test::read_bytes(dot), Catch::Contains("[32, 1, 40, 40]\", style=dashed"));
  CHECK_THAT(tg::test::read_bytes(dot), Catch::Contains("adaptive_avg_pool2d"));
}

TEST_CASE("resnet --out draws the curves, the confusion matrix and the stem's 64 filters", "[example][resnet]") {
  tg::test::TempDir dir("resnet_out");
  REQUIRE(run(fmt::format("{} --epochs 1 --out {}", kTiny, dir.path.string())) == 0);
  for (const char* name : {"loss.svg", "accuracy.svg", "confusion.svg", "confusion.png", "conv1_filters.png"})
    CHECK(std::filesystem::exists(dir.path / name));
  CHECK_THAT(tg::test::read_bytes(dir.file("loss.svg")), Catch::Contains("ResNet-18 (28x28)"));
}

TEST_CASE("resnet reports bad input clearly", "[example][resnet]") {
  tg::test::TempDir dir("resnet_bad");
  const std::string err = dir.file("stderr.txt");
  CHECK(run("--resize 20", err) != 0);
  CHECK_THAT(tg::test::read_bytes(err), Catch::Contains("--resize"));
  CHECK(run("--data /nonexistent/fashion --epochs 1", err) != 0);
  CHECK_THAT(tg::test::read_bytes(err), Catch::Contains("dataset-fashion-mnist"));
  // A LeNet checkpoint is not a ResNet's: the error names the file and a missing tensor.
  const std::string lenet_ck = dir.file("lenet.safetensors");
  tg::Generator gen(0);
  tg::save_safetensors(tg::Linear(4, 2, true, gen).state_dict(), lenet_ck, {{"epoch", "1"}});
  CHECK(run(fmt::format("{} --epochs 2 --resume {}", kTiny, lenet_ck), err) != 0);
  CHECK_THAT(tg::test::read_bytes(err), Catch::Contains("lenet.safetensors"));
  CHECK(run(fmt::format("{} --epochs 1 --metrics /nonexistent/dir/m.csv", kTiny), err) != 0);
  CHECK_THAT(tg::test::read_bytes(err), Catch::Contains("/nonexistent/dir/m.csv"));
}

TEST_CASE("resnet --html writes the tape explorer of the first step, within 5 MB", "[example][resnet][explorer]") {
  tg::test::TempDir dir("resnet_html");
  const std::string path = dir.file("step.html");
  REQUIRE(run(fmt::format("--epochs 1 {} --html {}", kTiny, path)) == 0);
  const std::string page = tg::test::read_bytes(path);
  CHECK(page.size() <= 5'000'000);
  CHECK_FALSE(tg::test::fetches_anything(page));
  const nlohmann::json d = tg::test::explorer_data(page);
  int convs = 0, adds = 0;
  for (const auto& e : d["entries"]) {
    convs += e["op"] == "conv2d";
    adds += e["op"] == "add";
  }
  CHECK(convs == 20);  // ResNet-18: the stem, 16 in the blocks, 3 shortcuts
  CHECK(adds >= 8);    // a residual sum per block: a fan-out and a fan-in each
  CHECK(d["steps"].size() == d["entries"].size());
}
