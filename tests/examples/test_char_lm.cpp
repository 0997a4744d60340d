// SPDX-License-Identifier: MIT
// The char_lm example end to end, on a few KB of text written here (so that it does not need
// Debian's fortunes): gpt and lstm learn, print the spec's lines and a sample drawn from the
// vocabulary, --dump writes the spec's tensors, a run resumed from a checkpoint prints what
// an uninterrupted one does, and bad input fails with a clear message and exit status 1.
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "test_util.hpp"
#include "viz/explorer_page.hpp"

namespace {

struct Run {
  int status = -1;  // the exit status
  std::string out, err;
};

// Runs char_lm with `args` (one thread), in `dir`.
Run run(const tg::test::TempDir& dir, const std::string& args) {
  const std::string out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
  std::string command = fmt::format("{} --threads 1 {} > {} 2> {}", TAPEGRAD_CHAR_LM, args, out, err);
  int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, tg::test::read_bytes(out), tg::test::read_bytes(err)};
}

// About 6 KB of English in a fixed pseudo-random order, with one non-ASCII character (UTF-8).
std::string write_text(const tg::test::TempDir& dir) {
  const char* sentences[] = {"The quick brown fox jumps over the lazy dog. ",
                             "A stitch in time saves nine. ",
                             "All that glitters is not gold. ",
                             "The early bird catches the worm. ",
                             "Better late than never. ",
                             "Meet me at the caf\xC3\xA9 at noon.\n"};
  std::string text;
  std::uint32_t state = 12345;
  while (text.size() < 6000) {
    state = state * 1664525u + 1013904223u;
    text += sentences[(state >> 16) % 6];
  }
  const std::string path = dir.file("text.txt");
  tg::test::write_bytes(path, text);
  return path;
}

struct Parsed {
  std::vector<std::string> step_lines;  // without the tok_per_s field
  std::vector<double> train_losses;
  std::string final_line;
  double final_val = NAN;
  std::string sample;  // what follows the final line, without print's newline
};

Parsed parse(const std::string& out) {
  Parsed p;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("step ", 0) == 0) {
      p.step_lines.push_back(line.substr(0, line.rfind(" tok_per_s ")));
      std::istringstream fields(line);
      std::string word;
      double value = NAN;
      fields >> word >> word >> word >> value;  // step S train_loss L
      p.train_losses.push_back(value);
    } else if (line.rfind("final val_loss ", 0) == 0) {
      p.final_line = line;
      p.final_val = std::stod(line.substr(15));
      std::size_t at = out.find(line) + line.size() + 1;
      if (at < out.size()) p.sample = out.substr(at, out.size() - at - 1);
      break;
    }
  }
  return p;
}

// The number of UTF-8 code points in s.
std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void check_learns_and_samples(const Parsed& p, const std::string& text, std::size_t lines, std::size_t sample) {
  REQUIRE(p.step_lines.size() == lines);
  CHECK(p.train_losses.back() < 0.75 * p.train_losses.front());
  CHECK(std::isfinite(p.final_val));
  CHECK(p.final_val > 0);
  CHECK(code_points(p.sample) == sample);
  const std::set<char> vocab(text.begin(), text.end());
  for (char c : p.sample) CHECK(vocab.count(c) == 1);
}

std::set<std::string> names(const std::string& path) {
  std::set<std::string> out;
  for (const auto& [name, t] : tg::load_safetensors(path)) out.insert(name);
  return out;
}

// The CSV rows without the timing column (the last one).
std::vector<std::string> rows_without_timing(const std::string& path) {
  std::vector<std::string> rows;
  std::istringstream in(tg::test::read_bytes(path));
  for (std::string line; std::getline(in, line);) rows.push_back(line.substr(0, line.rfind(',')));
  return rows;
}

}  // namespace

TEST_CASE("char_lm --model gpt learns, samples from the vocabulary and dumps the first step", "[example][char_lm]") {
  tg::test::TempDir dir("char_lm_gpt");
  const std::string text = write_text(dir);
  Run r = run(dir, fmt::format("--text {} --steps 60 --eval-every 20 --batch-size 8 --sample 120 --seed 1 --dump {} "
                               "--metrics {} --out {}",
                               text, dir.file("dump.safetensors"), dir.file("m.csv"), dir.file("pictures")));
  INFO(r.err);
  REQUIRE(r.status == 0);
  check_learns_and_samples(parse(r.out), tg::test::read_bytes(text), 3, 120);
  CHECK(rows_without_timing(dir.file("m.csv")).at(0) == "step,train_loss,val_loss");

  std::set<std::string> expected{
      "logits",           "loss",           "losses",           "grad.tok_emb.weight", "grad.pos_emb.weight",
      "grad.ln_f.weight", "grad.ln_f.bias", "grad.head.weight", "grad.head.bias"};
  for (int i = 0; i < 2; ++i)
    for (const char* p :
         {"ln1.weight", "ln1.bias", "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
          "attn.out_proj.bias", "ln2.weight", "ln2.bias", "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"})
      expected.insert(fmt::format("grad.blocks.{}.{}", i, p));
  CHECK(names(dir.file("dump.safetensors")) == expected);
  auto dump = tg::load_safetensors(dir.file("dump.safetensors"));
  for (const auto& [name, t] : dump) {
    if (name == "logits") CHECK(t.shape() == tg::Shape{8, 64, 34});  // 34 distinct characters in the text
    if (name == "losses") CHECK(t.shape() == tg::Shape{60});
    if (name == "loss") CHECK(t.dim() == 0);
  }
  CHECK(std::filesystem::exists(dir.file("pictures/loss.svg")));
  CHECK(std::filesystem::exists(dir.file("pictures/attention_block1_head3.png")));
}

TEST_CASE("char_lm --model lstm learns, and resumes where it stopped, state included", "[example][char_lm]") {
  tg::test::TempDir dir("char_lm_lstm");
  const std::string text = write_text(dir);
  // Note: 12 steps with a high learning rate: a step of the LSTM takes about 0.3 s here.
  const std::string common =
      fmt::format("--model lstm --text {} --eval-every 4 --batch-size 8 --lr 0.02 --seed 2", text);
  Run straight = run(dir, fmt::format("{} --steps 12 --sample 50 --dump {} --metrics {}", common,
                                      dir.file("dump.safetensors"), dir.file("straight.csv")));
  INFO(straight.err);
  REQUIRE(straight.status == 0);
  Parsed s = parse(straight.out);
  check_learns_and_samples(s, tg::test::read_bytes(text), 3, 50);
  CHECK(names(dir.file("dump.safetensors")) ==
        std::set<std::string>{"logits", "loss", "losses", "grad.emb.weight", "grad.rnn.weight_ih_l0",
                              "grad.rnn.weight_hh_l0", "grad.rnn.bias_ih_l0", "grad.rnn.bias_hh_l0",
                              "grad.rnn.weight_ih_l1", "grad.rnn.weight_hh_l1", "grad.rnn.bias_ih_l1",
                              "grad.rnn.bias_hh_l1", "grad.head.weight", "grad.head.bias"});

  // Step 6 is in the middle of an interval and of the streams: the loss since the last line
  // and the hidden state must both carry over.
  const std::string ckpt = dir.file("ck.safetensors");
  REQUIRE(run(dir, fmt::format("{} --steps 6 --sample 0 --save {} --metrics {}", common, ckpt, dir.file("resumed.csv")))
              .status == 0);
  // The optimizer's and hidden state's files, named in the checkpoint's metadata and tagged
  // with its step and run id; nothing else beside it (no temporaries, no older companions).
  auto meta = tg::load_safetensors_metadata(ckpt);
  CHECK(std::filesystem::exists(dir.file(meta.at("optimizer"))));
  CHECK(std::filesystem::exists(dir.file(meta.at("state"))));
  CHECK(meta.at("optimizer") == "ck.safetensors.optim.s6-" + meta.at("run_id"));
  for (const auto& entry : std::filesystem::directory_iterator(dir.path))
    CHECK(entry.path().filename().string().find(".tmp.") == std::string::npos);
  Run resumed = run(
      dir, fmt::format("{} --steps 12 --sample 50 --resume {} --metrics {}", common, ckpt, dir.file("resumed.csv")));
  INFO(resumed.err);
  REQUIRE(resumed.status == 0);
  Parsed r = parse(resumed.out);
  CHECK(r.step_lines == std::vector<std::string>(s.step_lines.begin() + 1, s.step_lines.end()));
  CHECK(r.final_line == s.final_line);
  CHECK(r.sample == s.sample);
  CHECK(rows_without_timing(dir.file("resumed.csv")) == rows_without_timing(dir.file("straight.csv")));
}

TEST_CASE("char_lm --model gpt resumed from a checkpoint matches an uninterrupted run", "[example][char_lm]") {
  tg::test::TempDir dir("char_lm_resume");
  const std::string text = write_text(dir);
  const std::string common = fmt::format("--text {} --eval-every 10 --batch-size 8 --seed 3 --sample 40", text);
  Run straight = run(dir, fmt::format("{} --steps 40", common));
  REQUIRE(straight.status == 0);
  const std::string ckpt = dir.file("ck.safetensors");
  REQUIRE(run(dir, fmt::format("{} --steps 25 --save {}", common, ckpt)).status == 0);
  auto metadata = tg::load_safetensors_metadata(ckpt);
  CHECK(metadata.at("model") == "gpt");
  CHECK(metadata.at("step") == "25");
  CHECK(metadata.at("n_layer") == "2");
  CHECK(metadata.at("vocab").size() == 35);  // 34 characters, one of them two bytes in UTF-8
  Run resumed = run(dir, fmt::format("{} --steps 40 --resume {}", common, ckpt));
  INFO(resumed.err);
  REQUIRE(resumed.status == 0);
  Parsed s = parse(straight.out), r = parse(resumed.out);
  REQUIRE(s.step_lines.size() == 4);
  CHECK(r.step_lines == std::vector<std::string>(s.step_lines.begin() + 2, s.step_lines.end()));
  CHECK(r.final_line == s.final_line);
  CHECK(r.sample == s.sample);

  // Another text has another vocabulary: the checkpoint does not fit it.
  tg::test::write_bytes(dir.file("other.txt"), std::string(4000, 'a') + std::string(4000, 'b'));
  Run other =
      run(dir, fmt::format("--text {} --steps 40 --batch-size 8 --seed 3 --resume {}", dir.file("other.txt"), ckpt));
  CHECK(other.status == 1);
  CHECK_THAT(other.err, Catch::StartsWith("char_lm: ") && Catch::Contains("vocabulary"));
  Run wrong_model = run(dir, fmt::format("--model lstm {} --steps 40 --resume {}", common, ckpt));
  CHECK(wrong_model.status == 1);
  CHECK_THAT(wrong_model.err, Catch::Contains("--model gpt"));

  // Settings given and different: one error listing them; omitted ones are the checkpoint's.
  Run differs = run(dir, fmt::format("--text {} --steps 26 --batch-size 4 --lr 0.01 --resume {}", text, ckpt));
  CHECK(differs.status == 1);
  CHECK_THAT(differs.err, Catch::Contains("--batch-size 4 (the checkpoint has 8)") &&
                              Catch::Contains("--lr 0.01 (the checkpoint has 0.003)") &&
                              Catch::Contains("--override-config"));
  Run omitted = run(dir, fmt::format("--text {} --steps 30 --eval-every 10 --sample 40 --resume {}", text, ckpt));
  INFO(omitted.err);
  CHECK(omitted.status == 0);
  CHECK(parse(omitted.out).step_lines == std::vector<std::string>(s.step_lines.begin() + 2, s.step_lines.begin() + 3));
  Run tuned = run(dir, fmt::format("{} --steps 26 --lr 0.001 --override-config --resume {}", common, ckpt));
  CHECK(tuned.status == 0);
  CHECK_THAT(tuned.err, Catch::Contains("--override-config: --lr 0.001 (the checkpoint has 0.003)"));
  // --metrics: a bad directory is an error before training.
  Run bad_metrics = run(dir, fmt::format("{} --steps 26 --metrics /nonexistent/m.csv", common));
  CHECK(bad_metrics.status == 1);
  CHECK_THAT(bad_metrics.err, Catch::Contains("--metrics /nonexistent/m.csv"));
  // An optimizer file of another save under this checkpoint's companion name: refused.
  const std::string optim = dir.file(tg::load_safetensors_metadata(ckpt).at("optimizer"));
  const std::string saved = tg::test::read_bytes(optim);
  REQUIRE(run(dir, fmt::format("{} --steps 10 --save {}", common, dir.file("other.safetensors"))).status == 0);
  tg::test::write_bytes(
      optim,
      tg::test::read_bytes(dir.file(tg::load_safetensors_metadata(dir.file("other.safetensors")).at("optimizer"))));
  Run mixed = run(dir, fmt::format("{} --steps 40 --resume {}", common, ckpt));
  CHECK(mixed.status == 1);
  CHECK_THAT(mixed.err, Catch::Contains("do not belong together"));
  tg::test::write_bytes(optim, saved);
  CHECK(run(dir, fmt::format("{} --steps 26 --resume {}", common, ckpt)).status == 0);
}

TEST_CASE("char_lm reports bad input clearly", "[example][char_lm]") {
  tg::test::TempDir dir("char_lm_bad");
  Run missing = run(dir, "--text /nonexistent/char_lm.txt --steps 1");
  CHECK(missing.status == 1);
  CHECK_THAT(missing.err, Catch::StartsWith("char_lm: ") && Catch::Contains("/nonexistent/char_lm.txt"));
  Run model = run(dir, fmt::format("--text {} --model transformer --steps 1", write_text(dir)));
  CHECK(model.status == 1);
  CHECK_THAT(model.err, Catch::StartsWith("char_lm: ") && Catch::Contains("--model") && Catch::Contains("transformer"));
  tg::test::write_bytes(dir.file("short.txt"), "far too short");
  Run short_text = run(dir, fmt::format("--text {} --steps 1", dir.file("short.txt")));
  CHECK(short_text.status == 1);
  CHECK_THAT(short_text.err, Catch::StartsWith("char_lm: ") && Catch::Contains("too short"));
}

TEST_CASE("char_lm --html writes the tape explorer of the first step, for gpt and lstm",
          "[example][char_lm][explorer]") {
  tg::test::TempDir dir("char_lm_html");
  const std::string text = write_text(dir);
  for (const char* model : {"gpt", "lstm"}) {
    INFO(model);
    const std::string path = dir.file(fmt::format("{}.html", model));
    Run r = run(dir, fmt::format("--model {} --text {} --steps 2 --eval-every 0 --sample 0 --batch-size 8 --html {}",
                                 model, text, path));
    INFO(r.err);
    REQUIRE(r.status == 0);
    const std::string page = tg::test::read_bytes(path);
    CHECK(page.size() <= 5'000'000);
    CHECK_FALSE(tg::test::fetches_anything(page));
    const nlohmann::json d = tg::test::explorer_data(page);
    std::set<std::string> ops;
    for (const auto& e : d["entries"]) ops.insert(e["op"].get<std::string>());
    CHECK(ops.count("embedding") == 1);
    CHECK(ops.count("cross_entropy") == 1);
    if (std::string(model) == "gpt") CHECK(ops.count("softmax") + ops.count("scaled_dot_product_attention") >= 1);
    if (std::string(model) == "lstm") {
      // 64 steps of the cell: more entries than the graph is drawn for, and a page that says so.
      CHECK(d["entries"].size() > 500);
      CHECK(page.find("<svg") == std::string::npos);
      CHECK_THAT(page, Catch::Contains("max_graph_entries"));
    }
  }
}
