// SPDX-License-Identifier: MIT
// The LeNet example end to end, on a few thousand images: it learns, and resuming from a
// checkpoint gives the same numbers as an uninterrupted run.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "test_util.hpp"
#include "viz/explorer_page.hpp"

namespace {

// Runs lenet with `args`, its stderr going to lenet_stderr.txt; returns its exit status.
int run(const std::string& args, const std::string& stderr_path = "/dev/null") {
  return tg::test::run_program(TAPEGRAD_LENET, args, "/dev/null", stderr_path);
}

// The metrics CSV rows without the timing column (the last one).
std::vector<std::string> rows_without_timing(const std::string& path) {
  std::vector<std::string> rows;
  std::istringstream in(tg::test::read_bytes(path));
  for (std::string line; std::getline(in, line);) rows.push_back(line.substr(0, line.rfind(',')));
  return rows;
}

// Small and fast: 1500 training images, 1000 test images.
const std::string kQuick = "--limit 1500 --test-limit 1000 --batch-size 100 --seed 3";

}  // namespace

TEST_CASE("lenet --recipe modern beats chance by a wide margin on 1500 images", "[example][lenet]") {
  REQUIRE(run(fmt::format("--recipe modern --epochs 2 {} --metrics lenet_smoke.csv", kQuick)) == 0);
  auto rows = rows_without_timing("lenet_smoke.csv");
  REQUIRE(rows.size() == 3);  // header + 2 epochs
  CHECK(rows[0] == "epoch,loss,train_acc,test_acc");
  double test_acc = std::stod(rows[2].substr(rows[2].rfind(',') + 1));
  CHECK(test_acc > 0.5);  // chance is 0.1
  std::remove("lenet_smoke.csv");
}

TEST_CASE("lenet resumed from a checkpoint matches an uninterrupted run", "[example][lenet]") {
  for (std::string recipe : {"modern", "classic"}) {
    INFO(recipe);
    REQUIRE(run(fmt::format("--recipe {} --epochs 2 {} --metrics lenet_straight.csv", recipe, kQuick)) == 0);
    REQUIRE(run(fmt::format("--recipe {} --epochs 1 {} --metrics lenet_resumed.csv --save lenet_ck.safetensors", recipe,
                            kQuick)) == 0);
    REQUIRE(run(fmt::format("--recipe {} --epochs 2 {} --metrics lenet_resumed.csv --resume lenet_ck.safetensors",
                            recipe, kQuick)) == 0);
    auto straight = rows_without_timing("lenet_straight.csv"), resumed = rows_without_timing("lenet_resumed.csv");
    REQUIRE(straight.size() == 3);
    CHECK(resumed == straight);
    for (const char* f : {"lenet_straight.csv", "lenet_resumed.csv", "lenet_ck.safetensors"}) std::remove(f);
    for (const auto& entry : std::filesystem::directory_iterator("."))
      if (entry.path().filename().string().rfind("lenet_ck.safetensors.optim.", 0) == 0)
        std::filesystem::remove(entry.path());
  }
}

TEST_CASE("lenet reports bad input clearly", "[example][lenet]") {
  const std::string err = "lenet_bad_input_stderr.txt";
  CHECK(run("--recipe nonsense", err) != 0);
  CHECK(run("--data /nonexistent/fashion --epochs 1", err) != 0);
  CHECK_THAT(tg::test::read_bytes(err), Catch::Contains("dataset-fashion-mnist"));
  std::ofstream("lenet_bad.safetensors") << "not a checkpoint";
  CHECK(run(fmt::format("--epochs 1 {} --resume lenet_bad.safetensors", kQuick), err) != 0);
  CHECK_THAT(tg::test::read_bytes(err), Catch::Contains("lenet_bad.safetensors"));
  std::remove("lenet_bad.safetensors");
  std::remove(err.c_str());
}

TEST_CASE("lenet --graph draws the first step's loss with the parameters' names", "[example][lenet][inspect]") {
  tg::test::TempDir dir("lenet_graph");
  const std::string path = (dir.path / "lenet.dot").string();
  REQUIRE(run(fmt::format("--recipe modern --epochs 1 --limit 200 --test-limit 100 --batch-size 100 --graph {}",
                          path)) == 0);
  const std::string dot = tg::test::read_bytes(path);
  CHECK(dot.rfind("digraph tapegrad {", 0) == 0);
  for (const char* name : {"0.weight", "0.bias", "1.weight", "1.bias", "cross_entropy", "conv2d", "max_pool2d"})
    CHECK_THAT(dot, Catch::Contains(name));
  // Buffers need no gradient and take no part in the loss's graph as leaves.
  CHECK_THAT(dot, !Catch::Contains("running_mean"));
  // The input batch is a constant: one dashed [100, 1, 28, 28] node.
  CHECK_THAT(dot, Catch::Contains("[100, 1, 28, 28]\", style=dashed"));
}

TEST_CASE("lenet --html writes the tape explorer of the first step, within 5 MB", "[example][lenet][explorer]") {
  tg::test::TempDir dir("lenet_html");
  const std::string path = dir.file("step.html");
  REQUIRE(run(fmt::format("--recipe modern --epochs 1 --limit 512 --test-limit 100 --batch-size 256 --html {}",
                          path)) == 0);
  const std::string page = tg::test::read_bytes(path);
  CHECK(page.size() <= 5'000'000);
  CHECK_FALSE(tg::test::fetches_anything(page));
  const nlohmann::json d = tg::test::explorer_data(page);
  std::set<std::string> ops, leaves;
  for (const auto& e : d["entries"]) ops.insert(e["op"].get<std::string>());
  for (const auto& v : d["values"])
    if (v["kind"] == "leaf") leaves.insert(v["name"].get<std::string>());
  for (const char* op : {"conv2d", "batch_norm", "relu", "max_pool2d", "cross_entropy"}) CHECK(ops.count(op) == 1);
  CHECK(leaves.count("0.weight") == 1);
  CHECK(d["steps"].size() == d["entries"].size());  // backward ran every entry once
  // The batch [256, 1, 28, 28] is a heat map with a selector for the image and the channel.
  bool images = false;
  for (const auto& v : d["values"])
    if (v["name"] == "images") {
      images = true;
      CHECK(v["tensor"]["shape"] == nlohmann::json::array({256, 1, 28, 28}));
      CHECK(v["tensor"]["heat"]["kept"].size() == 2);
    }
  CHECK(images);
}

TEST_CASE("lenet --resume checks the recorded settings, and --override-config accepts new ones",
          "[example][lenet][resume]") {
  tg::test::TempDir dir("lenet_resume_config");
  const std::string ck = (dir.path / "ck.safetensors").string(), csv = (dir.path / "m.csv").string();
  const std::string err = (dir.path / "err.txt").string();
  const std::string tiny = "--recipe modern --limit 256 --test-limit 128";
  REQUIRE(run(fmt::format("{} --epochs 1 --batch-size 64 --lr 0.002 --seed 5 --save {} --metrics {}", tiny, ck, csv)) ==
          0);
  // One companion, named by the checkpoint; no temporaries.
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path))
    names.push_back(entry.path().filename().string());
  CHECK(names.size() == 2 + 1);  // ck, its companion, m.csv
  for (const auto& name : names) CHECK(name.find(".tmp.") == std::string::npos);
  // Different values: an error naming each, with both values and the fix.
  CHECK(run(fmt::format("{} --epochs 2 --batch-size 32 --lr 0.01 --resume {}", tiny, ck), err) != 0);
  std::string message = tg::test::read_bytes(err);
  CHECK_THAT(message, Catch::Contains("--batch-size 32 (the checkpoint has 64)"));
  CHECK_THAT(message, Catch::Contains("--lr 0.01 (the checkpoint has 0.002)"));
  CHECK_THAT(message, Catch::Contains("--override-config"));
  // Omitted values: the checkpoint's; the metrics keep the header and epoch 1's row.
  const std::string before = tg::test::read_bytes(csv);
  REQUIRE(run(fmt::format("{} --epochs 2 --resume {} --metrics {} --save {}", tiny, ck, csv, ck), err) == 0);
  auto rows = rows_without_timing(csv);
  REQUIRE(rows.size() == 3);
  CHECK(tg::test::read_bytes(csv).rfind(before, 0) == 0);
  // The same values given: fine. New ones with --override-config: one stderr line each.
  REQUIRE(run(fmt::format("{} --epochs 3 --batch-size 64 --lr 0.002 --seed 5 --resume {}", tiny, ck), err) == 0);
  REQUIRE(run(fmt::format("{} --epochs 3 --lr 0.0005 --override-config --resume {}", tiny, ck), err) == 0);
  CHECK_THAT(tg::test::read_bytes(err), Catch::Contains("--override-config: --lr 0.0005 (the checkpoint has 0.002)"));
  // Metrics: a bad directory fails before training, naming the flag.
  CHECK(run(fmt::format("{} --epochs 1 --metrics /nonexistent/dir/m.csv", tiny), err) != 0);
  CHECK_THAT(tg::test::read_bytes(err), Catch::Contains("--metrics /nonexistent/dir/m.csv"));
  // A file of another header is not silently appended to.
  tg::test::write_bytes(csv, "step,loss\n1,2\n");
  CHECK(run(fmt::format("{} --epochs 3 --resume {} --metrics {}", tiny, ck, csv), err) != 0);
  CHECK_THAT(tg::test::read_bytes(err), Catch::Contains("header"));
}

TEST_CASE("lenet checkpoint: a model file and an optimizer file of different saves do not load",
          "[example][lenet][resume]") {
  tg::test::TempDir dir("lenet_pairing");
  const std::string ck = (dir.path / "ck.safetensors").string(), err = (dir.path / "err.txt").string();
  const std::string tiny = "--recipe modern --limit 256 --test-limit 128";
  REQUIRE(run(fmt::format("{} --epochs 1 --save {}", tiny, ck)) == 0);
  std::string companion;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path))
    if (entry.path().filename().string().rfind("ck.safetensors.optim.", 0) == 0) companion = entry.path().string();
  REQUIRE(!companion.empty());
  const std::string first_optim = tg::test::read_bytes(companion);
  // A second run (another run id) saves epoch 1 again; put the first run's optimizer under its name.
  REQUIRE(run(fmt::format("{} --epochs 1 --save {}", tiny, ck)) == 0);
  std::string second;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path))
    if (entry.path().filename().string().rfind("ck.safetensors.optim.", 0) == 0) second = entry.path().string();
  REQUIRE(second != companion);
  CHECK(!std::filesystem::exists(companion));  // superseded, removed
  tg::test::write_bytes(second, first_optim);
  CHECK(run(fmt::format("{} --epochs 2 --resume {}", tiny, ck), err) != 0);
  CHECK_THAT(tg::test::read_bytes(err), Catch::Contains("do not belong together"));
  std::filesystem::remove(second);
  CHECK(run(fmt::format("{} --epochs 2 --resume {}", tiny, ck), err) != 0);
  CHECK_THAT(tg::test::read_bytes(err), Catch::Contains("does not exist"));
}

TEST_CASE("lenet killed at random points while it saves leaves a checkpoint that resumes",
          "[example][lenet][resume][reliability]") {
  // SIGKILL (timeout -s KILL) at times spread over a run that saves after each of its epochs:
  // whatever instant the kill lands at, PATH names an optimizer file that exists and belongs
  // to it, and the resumed run's next save leaves one companion and no temporaries.
  tg::test::TempDir dir("lenet_killed");
  const std::string ck = (dir.path / "ck.safetensors").string(), err = (dir.path / "err.txt").string();
  const std::string tiny = "--recipe modern --limit 256 --test-limit 64 --batch-size 64";
  std::mt19937 random(7);
  int resumed = 0;
  for (int round = 0; round < 8; ++round) {
    const double after = std::uniform_real_distribution<double>(2.0, 5.0)(random);
    const std::string command = fmt::format("timeout -s KILL {:.2f} {} {} --epochs 40 --save {} > /dev/null 2>&1",
                                            after, TAPEGRAD_LENET, tiny, ck);
    CHECK(std::system(command.c_str()) != -1);
    if (!std::filesystem::exists(ck)) continue;
    INFO("round " << round << ", killed after " << after << " s");
    const int epoch = std::stoi(tg::load_safetensors_metadata(ck).at("epoch"));
    REQUIRE(run(fmt::format("{} --epochs {} --resume {} --save {}", tiny, epoch + 1, ck, ck), err) == 0);
    CHECK(tg::load_safetensors_metadata(ck).at("epoch") == std::to_string(epoch + 1));
    ++resumed;
    int companions = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path)) {
      const std::string name = entry.path().filename().string();
      CHECK(name.find(".tmp.") == std::string::npos);
      companions += name.rfind("ck.safetensors.optim.", 0) == 0;
    }
    CHECK(companions == 1);
    std::filesystem::remove(ck);
  }
  CHECK(resumed >= 3);  // (lenet needs 1-2 s to load the data before its first save)
}
