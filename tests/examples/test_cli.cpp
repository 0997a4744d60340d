// SPDX-License-Identifier: MIT
// The examples' command lines: --version, --help with every default and where the data is
// looked for, and the configuration and model summary printed before training (on stdout,
// before the first epoch or step line); edge_detection prints the notebook's output alone
// unless --summary asks for the summary first.
#include <regex>
#include <set>
#include <sstream>

#include "common/cli.hpp"
#include "framework/ops/op_test_util.hpp"
#include "tapegrad/version.hpp"
#include "test_util.hpp"

namespace {

struct Output {
  int status = -1;
  std::string out, err;
};

Output run(const tg::test::TempDir& dir, const std::string& program, const std::string& args,
           const std::string& env = "") {
  const std::string out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
  Output r;
  r.status = tg::test::run_program(env.empty() ? program : env + " " + program, args, out, err);
  r.out = tg::test::read_bytes(out);
  r.err = tg::test::read_bytes(err);
  return r;
}

// The option lines of --help ("  --name TYPE=DEFAULT  text", the text maybe on the next line).
std::vector<std::string> option_lines(const std::string& help) {
  std::vector<std::string> out;
  std::istringstream in(help);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("  --", 0) == 0) out.push_back(line);
  return out;
}

// Every option that takes a value shows its default ("=..."), except the files written or read
// only when given.
void check_every_default(const std::string& help, const std::set<std::string>& only_when_given) {
  // The option's part: words separated by single spaces ("--resize INT:INT in [28 - 224]=96").
  const std::regex valued(R"(^  (--[a-z-]+) (TEXT|INT|UINT|FLOAT)\S*( \S+)*)");
  int checked = 0;
  for (const std::string& line : option_lines(help)) {
    std::smatch m;
    if (!std::regex_search(line, m, valued)) continue;
    INFO(line);
    if (only_when_given.count(m[1].str())) {
      CHECK(m[0].str().find('=') == std::string::npos);
      continue;
    }
    CHECK(m[0].str().find('=') != std::string::npos);
    ++checked;
  }
  CHECK(checked >= 4);  // edge_detection has 4: --steps, --lr, --seed, --threads
}

}  // namespace

TEST_CASE("every example prints its version and tapegrad's with --version", "[examples][cli]") {
  tg::test::TempDir dir("cli_version");
  for (const auto& [name, program] :
       std::vector<std::pair<std::string, std::string>>{{"lenet", TAPEGRAD_LENET},
                                                        {"resnet", TAPEGRAD_RESNET},
                                                        {"char_lm", TAPEGRAD_CHAR_LM},
                                                        {"edge_detection", TAPEGRAD_EDGE_DETECTION}}) {
    INFO(name);
    Output r = run(dir, program, "--version");
    CHECK(r.status == 0);
    CHECK(r.out == fmt::format("{} (tapegrad {})\n", name, TAPEGRAD_VERSION));
    CHECK(r.err.empty());
  }
}

TEST_CASE("lenet and resnet --help show every default and where Fashion-MNIST is looked for", "[examples][cli]") {
  tg::test::TempDir dir("cli_help");
  const std::set<std::string> files{"--metrics", "--save", "--resume", "--init",
                                    "--logits",  "--out",  "--graph",  "--html"};
  Output lenet = run(dir, TAPEGRAD_LENET, "--help", "env -u TAPEGRAD_FASHION_MNIST");
  REQUIRE(lenet.status == 0);
  check_every_default(lenet.out, files);
  for (const char* text :
       {"--recipe TEXT:{classic,modern}=classic", "--epochs INT:NONNEGATIVE=10",
        "--batch-size INT:POSITIVE=256 (classic) or 128 (modern)", "--lr FLOAT:POSITIVE=0.9 (classic) or 1e-3 (modern)",
        "--schedule TEXT:{constant,cosine}=constant", "--seed UINT=0", "--threads INT:NONNEGATIVE=one per core",
        "--data TEXT=/usr/share/datasets/fashion-mnist", "$TAPEGRAD_FASHION_MNIST if set (now unset)",
        "else in /usr/share/datasets/fashion-mnist", "train-images-idx3-ubyte.gz", "--version"})
    CHECK_THAT(lenet.out, Catch::Contains(text));

  // With $TAPEGRAD_FASHION_MNIST set, the default is that directory.
  Output env = run(dir, TAPEGRAD_LENET, "--help", "TAPEGRAD_FASHION_MNIST=/srv/fashion");
  CHECK_THAT(env.out, Catch::Contains("--data TEXT=/srv/fashion") && Catch::Contains("(now /srv/fashion)"));

  Output resnet = run(dir, TAPEGRAD_RESNET, "--help", "env -u TAPEGRAD_FASHION_MNIST");
  REQUIRE(resnet.status == 0);
  check_every_default(resnet.out, files);
  for (const char* text :
       {"--resize INT:INT in [28 - 224]=96", "--batch-size INT:POSITIVE=256", "--lr FLOAT:POSITIVE=0.05",
        "--schedule TEXT:{constant,cosine}=cosine", "--data TEXT=/usr/share/datasets/fashion-mnist"})
    CHECK_THAT(resnet.out, Catch::Contains(text));
}

TEST_CASE("char_lm and edge_detection --help show every default", "[examples][cli]") {
  tg::test::TempDir dir("cli_help2");
  Output lm = run(dir, TAPEGRAD_CHAR_LM, "--help");
  REQUIRE(lm.status == 0);
  check_every_default(lm.out, {"--metrics", "--save", "--resume", "--init", "--html", "--dump", "--out"});
  for (const char* text :
       {"--model TEXT:{gpt,lstm,gru}=gpt", "--text TEXT=/usr/share/games/fortunes", "--steps INT:NONNEGATIVE=1000",
        "--batch-size INT:POSITIVE=32", "--lr FLOAT:POSITIVE=3e-3 (gpt) or 2e-3 (lstm, gru)",
        "--eval-every INT:NONNEGATIVE=100", "--sample INT:NONNEGATIVE=300", "--prompt TEXT=\\n"})
    CHECK_THAT(lm.out, Catch::Contains(text));

  Output edge = run(dir, TAPEGRAD_EDGE_DETECTION, "--help");
  REQUIRE(edge.status == 0);
  check_every_default(edge.out, {"--metrics", "--out", "--trace", "--graph", "--html"});
  for (const char* text : {"--steps INT:NONNEGATIVE=60", "--lr FLOAT:POSITIVE=0.01", "--seed UINT=0", "--summary"})
    CHECK_THAT(edge.out, Catch::Contains(text));
}

TEST_CASE("lenet prints its configuration and the model's summary before the first epoch line", "[examples][cli]") {
  tg::test::TempDir dir("cli_lenet");
  Output r = run(dir, TAPEGRAD_LENET, "--epochs 1 --limit 200 --test-limit 100 --batch-size 100 --seed 5 --threads 1",
                 "env -u TAPEGRAD_FASHION_MNIST");
  REQUIRE(r.status == 0);
  for (const char* line :
       {"lenet (tapegrad " TAPEGRAD_VERSION ") configuration:\n", "\n  model       LeNet (classic)\n",
        "\n  epochs      1\n", "\n  batch size  100\n", "\n  lr          0.9\n", "\n  schedule    constant\n",
        "\n  seed        5\n", "\n  threads     1\n",
        "\n  data        /usr/share/datasets/fashion-mnist (200 training images, 100 test images)\n",
        "\n├─Conv2D: 0           [1, 6, 28, 28]     156\n", "\nTotal params: 61,706\n"})
    CHECK_THAT(r.out, Catch::Contains(line));
  const std::size_t summary = r.out.find("Total params:"), epoch = r.out.find("epoch 1 loss");
  REQUIRE(epoch != std::string::npos);
  CHECK(r.out.rfind("lenet (tapegrad", 0) == 0);  // the first thing printed
  CHECK(summary < epoch);
  // The modern recipe's defaults, resolved.
  Output modern = run(dir, TAPEGRAD_LENET, "--recipe modern --epochs 1 --limit 128 --test-limit 64");
  REQUIRE(modern.status == 0);
  CHECK_THAT(modern.out, Catch::Contains("\n  batch size  128\n") && Catch::Contains("\n  lr          0.001\n") &&
                             Catch::Contains("├─BatchNorm2D: 1"));
}

TEST_CASE("resnet and char_lm print their configuration and summary first", "[examples][cli]") {
  tg::test::TempDir dir("cli_others");
  Output resnet = run(dir, TAPEGRAD_RESNET, "--resize 28 --epochs 1 --limit 32 --test-limit 32 --batch-size 32");
  REQUIRE(resnet.status == 0);
  CHECK(resnet.out.rfind("resnet (tapegrad", 0) == 0);
  CHECK_THAT(resnet.out, Catch::Contains("\n  resize      28 (none)\n") &&
                             Catch::Contains("\n  schedule    cosine over 1 epochs\n"));
  CHECK(resnet.out.find("Total params:") < resnet.out.find("epoch 1 loss"));

  std::string text;
  for (int i = 0; i < 200; ++i)
    text += i % 3 ? "The quick brown fox jumps over the lazy dog. " : "Better late than never.\n";
  tg::test::write_bytes(dir.file("text.txt"), text);
  Output lm = run(dir, TAPEGRAD_CHAR_LM,
                  fmt::format("--text {} --steps 2 --eval-every 1 --sample 5 --threads 1", dir.file("text.txt")));
  REQUIRE(lm.status == 0);
  CHECK(lm.out.rfind("char_lm (tapegrad", 0) == 0);
  CHECK_THAT(lm.out, Catch::Contains("\n  model       gpt (2 blocks, 4 heads, 128 wide, context 64)\n") &&
                         Catch::Contains("\n  lr          0.003\n") && Catch::Contains("├─Embedding: tok_emb"));
  CHECK(lm.out.find("Total params:") < lm.out.find("\nstep 1 train_loss"));
}

TEST_CASE("edge_detection prints the notebook's output alone, and its summary first with --summary",
          "[examples][cli]") {
  tg::test::TempDir dir("cli_edge");
  Output plain = run(dir, TAPEGRAD_EDGE_DETECTION, "--steps 3");
  Output with = run(dir, TAPEGRAD_EDGE_DETECTION, "--steps 3 --summary");
  REQUIRE(plain.status == 0);
  REQUIRE(with.status == 0);
  CHECK(plain.out.find("Total params") == std::string::npos);
  REQUIRE(with.out.size() > plain.out.size());
  const std::string summary = with.out.substr(0, with.out.size() - plain.out.size());
  CHECK(with.out.substr(summary.size()) == plain.out);  // then exactly what it prints without
  CHECK(summary.rfind("=====", 0) == 0);
  // Conv2D((1, 2)) on the 6x8 image: [6, 7], a 1x2 kernel and a bias.
  CHECK_THAT(summary, Catch::Matches(R"([\s\S]*\nConv2D +\[6, 7\] +3\n[\s\S]*)"));
  CHECK_THAT(summary, Catch::Contains("Total params: 3\nTrainable params: 3\n"));
}

TEST_CASE("metrics files: checked on open, the header kept on resume, the recomputed rows dropped", "[examples][cli]") {
  tg::test::TempDir dir("cli_metrics");
  const std::string csv = dir.file("m.csv"), header = "epoch,loss";
  // A fresh run replaces whatever was there with the header alone, at once.
  tg::test::write_bytes(csv, "old,file\n1,2\n");
  CHECK(examples::open_metrics(csv, header, 0) == "epoch,loss\n");
  CHECK(tg::test::read_bytes(csv) == "epoch,loss\n");
  // A resume keeps the rows below the first key it recomputes (epoch 3 here: rows 1 and 2).
  tg::test::write_bytes(csv, "epoch,loss\n1,0.5\n2,0.4\n3,0.3\n\n");
  CHECK(examples::open_metrics(csv, header, 3) == "epoch,loss\n1,0.5\n2,0.4\n");
  CHECK(tg::test::read_bytes(csv) == "epoch,loss\n1,0.5\n2,0.4\n");
  // A resume with no file yet starts one.
  CHECK(examples::open_metrics(dir.file("new.csv"), header, 5) == "epoch,loss\n");
  // Another program's file is not appended to, and is left as it was.
  tg::test::write_bytes(csv, "step,train_loss\n1,2\n");
  CHECK_THROWS_MATCHES(
      examples::open_metrics(csv, header, 2), tg::ValueError,
      tg::test::MessageContains({"--metrics " + csv, "'step,train_loss'", "'epoch,loss'", "pass another path"}));
  CHECK(tg::test::read_bytes(csv) == "step,train_loss\n1,2\n");
  // A row that is not a number: a clear error, not std::stoll's.
  tg::test::write_bytes(csv, "epoch,loss\nnan,1\n");
  CHECK_THROWS_MATCHES(examples::open_metrics(csv, header, 2), tg::ValueError,
                       tg::test::MessageContains({"'nan,1'", "does not start with a number"}));
  // A path that cannot be written: an IoError naming the flag and the fix.
  CHECK_THROWS_MATCHES(examples::open_metrics("/nonexistent/dir/m.csv", header, 0), tg::IoError,
                       tg::test::MessageContains({"--metrics /nonexistent/dir/m.csv", "writable"}));
  // write_metrics replaces the whole file.
  examples::write_metrics(csv, "epoch,loss\n1,0.1\n");
  CHECK(tg::test::read_bytes(csv) == "epoch,loss\n1,0.1\n");
}
