// SPDX-License-Identifier: MIT
// lenet --init (initial weights, strict), --epochs 0 (evaluate only) and --logits (the test
// images' logits as safetensors). PyTorch's side is the ctest lenet_pytorch_checkpoints.
#include <cstdio>
#include <regex>

#include "test_util.hpp"

namespace {

int run(const std::string& args, const std::string& stdout_path, const std::string& stderr_path = "/dev/null") {
  return tg::test::run_program(TAPEGRAD_LENET, args, stdout_path, stderr_path);
}

// The first match of `pattern`'s group 1 in the file, or "".
std::string find(const std::string& path, const std::string& pattern) {
  std::smatch m;
  std::string text = tg::test::read_bytes(path);
  return std::regex_search(text, m, std::regex(pattern)) ? m[1].str() : "";
}

const std::string kQuick = "--limit 1000 --test-limit 300 --batch-size 100 --seed 5";

}  // namespace

TEST_CASE("lenet --init of a --save file with --epochs 0 evaluates the same network", "[example][lenet]") {
  tg::test::TempDir dir("lenet_init");
  const std::string d = dir.path.string();
  const std::string ck = d + "/ck.safetensors", out = d + "/out.txt", logits_path = d + "/logits.safetensors";
  REQUIRE(run(fmt::format("--recipe modern --epochs 1 {} --save {}", kQuick, ck), out) == 0);
  std::string trained_acc = find(out, "test_acc ([0-9.]+)");
  REQUIRE(!trained_acc.empty());
  REQUIRE(run(fmt::format("--recipe modern --epochs 0 {} --init {} --logits {}", kQuick, ck, logits_path), out) == 0);
  CHECK(find(out, "(?:^|\\n)test_acc ([0-9.]+) correct") == trained_acc);
  std::int64_t correct = std::stoll(find(out, "correct ([0-9]+)/300"));

  // The logits file: [300, 10] logits and the 300 labels, whose argmax count is the same.
  auto tensors = tg::load_safetensors(logits_path);
  REQUIRE(tensors.size() == 2);
  CHECK(tensors[0].first == "logits");
  CHECK(tensors[1].first == "labels");
  const tg::Tensor& logits = tensors[0].second;
  const tg::Tensor& labels = tensors[1].second;
  REQUIRE(logits.shape() == tg::Shape{300, 10});
  REQUIRE(labels.shape() == tg::Shape{300});
  std::int64_t hits = 0;
  for (std::int64_t i = 0; i < 300; ++i) {
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < 10; ++j)
      if (logits.at<float>({i, j}) > logits.at<float>({i, best})) best = j;
    hits += best == labels.at<std::int64_t>({i});
  }
  CHECK(hits == correct);
}

TEST_CASE("lenet --init reports a missing file, wrong names and wrong shapes clearly", "[example][lenet]") {
  tg::test::TempDir dir("lenet_init_bad");
  const std::string d = dir.path.string();
  const std::string out = d + "/out.txt", err = d + "/err.txt", ck = d + "/classic.safetensors";
  auto message = [&] { return tg::test::read_bytes(err); };

  CHECK(run(fmt::format("--epochs 0 {} --init {}/missing.safetensors", kQuick, d), out, err) != 0);
  CHECK_THAT(message(), Catch::Contains("--init " + d + "/missing.safetensors") &&
                            Catch::Contains("pass a state_dict of this network"));

  // The classic network's weights into the modern one: modern's first batch norm is missing.
  REQUIRE(run(fmt::format("--recipe classic --epochs 1 {} --save {}", kQuick, ck), out) == 0);
  CHECK(run(fmt::format("--recipe modern --epochs 0 {} --init {}", kQuick, ck), out, err) != 0);
  CHECK_THAT(message(), Catch::Contains("--init " + ck) && Catch::Contains("'1.weight'") &&
                            Catch::Contains("pass a state_dict of this network"));

  // The right names with one wrong shape.
  auto state = tg::load_safetensors(ck);
  for (auto& [name, t] : state)
    if (name == "0.weight") t = tg::zeros({6, 1, 3, 3});
  const std::string bad = d + "/bad_shape.safetensors";
  tg::save_safetensors(state, bad);
  CHECK(run(fmt::format("--recipe classic --epochs 0 {} --init {}", kQuick, bad), out, err) != 0);
  CHECK_THAT(message(), Catch::Contains("--init " + bad) && Catch::Contains("'0.weight'") &&
                            Catch::Contains("[6, 1, 3, 3]") && Catch::Contains("pass a state_dict of this network"));

  // --init with --resume: the checkpoint's weights would win, so the pair is refused.
  CHECK(run(fmt::format("--epochs 2 {} --init {} --resume {}", kQuick, ck, ck), out, err) != 0);
  CHECK_THAT(message(), Catch::Contains("excludes") && Catch::Contains("--init") && Catch::Contains("--resume"));

  // --out draws training curves, which --epochs 0 does not have.
  CHECK(run(fmt::format("--epochs 0 {} --out {}/pictures", kQuick, d), out, err) != 0);
  CHECK_THAT(message(), Catch::Contains("--epochs 0"));
}
