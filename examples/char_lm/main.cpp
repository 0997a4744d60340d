// SPDX-License-Identifier: MIT
// A character-level language model trained on text: by default the fortune cookies of Debian's
// fortunes package. The contract (text, vocabulary, batches, models, optimizers, evaluation,
// output lines, --dump and checkpoint files) is the one bench/char_lm.py, its PyTorch twin,
// implements too, so that the two runs can be compared number for number.
//   --model gpt        a 2-block causal transformer (128 wide, 4 heads, context 64), AdamW 3e-3
//   --model lstm|gru   a 2-layer LSTM or GRU (256 wide) over 64-wide embeddings, Adam 2e-3, clipping 1
// Every --eval-every steps it prints `step S train_loss L val_loss V tok_per_s R`, after training
// `final val_loss V` over the whole validation text, then a sample of --sample characters.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <span>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "char_lm/models.hpp"
#include "char_lm/text.hpp"
#include "common/cli.hpp"
#include "common/progress.hpp"
#include "tapegrad/layers/summary.hpp"
#include "tapegrad/tapegrad.hpp"
#include "tapegrad/viz.hpp"

namespace {

using char_lm::kContext;
using tg::Tensor;

struct Options {
  std::string model = "gpt";
  std::string text;
  std::int64_t steps = 1000;
  std::int64_t batch_size = 32;
  double lr = 0;  // 0: the model's (gpt 3e-3, lstm/gru 2e-3)
  std::uint64_t seed = 0;
  int threads = 0;  // 0: one per core
  bool distributed = false;
  std::int64_t eval_every = 100, eval_batches = 10;
  std::int64_t sample = 300;
  double temperature = 1.0;
  std::int64_t top_k = 0;
  std::string prompt = "\n";
  std::string metrics, save, resume, out, init, dump, html;
  // --resume: accept values that differ from the checkpoint's (one stderr line each).
  bool override_config = false;
  // The flags of the settings a checkpoint records, by metadata key (to tell given from default).
  std::map<std::string, const CLI::Option*> config_flags;
};

// The mean cross-entropy of the next character over `ids` (the validation text), as the spec
// says: gpt over consecutive windows of T in batches of B; lstm/gru over B streams, chunk after
// chunk with the state carried. max_batches > 0 stops after that many batches (chunks).
double evaluate(char_lm::LanguageModel& model, std::int64_t V, std::span<const std::int64_t> ids, std::int64_t B,
                std::int64_t max_batches) {
  tg::NoGradGuard no_grad;
  model.eval();
  double total = 0;
  std::int64_t count = 0;
  auto add = [&](const char_lm::Batch& batch, char_lm::State& state) {
    Tensor logits = model.logits(batch.x, state);
    total += tg::cross_entropy(logits.reshape({-1, V}), batch.y.reshape({-1}), {.reduction = "sum"}).item<double>();
    count += batch.y.numel();
  };
  char_lm::State state;
  if (!model.recurrent()) {
    const std::int64_t windows = (static_cast<std::int64_t>(ids.size()) - 1) / kContext;
    for (std::int64_t first = 0, i = 0; first < windows; first += B, ++i) {
      if (max_batches > 0 && i >= max_batches) break;
      std::vector<std::int64_t> starts;
      for (std::int64_t j = first; j < std::min(first + B, windows); ++j) starts.push_back(j * kContext);
      add(char_lm::rows_at(ids, starts), state);
    }
  } else {
    char_lm::Streams streams(ids, B);
    for (std::int64_t k = 0; k < streams.chunks(); ++k) {
      if (max_batches > 0 && k >= max_batches) break;
      add(streams.chunk(k), state);
    }
  }
  model.train();
  return total / static_cast<double>(std::max<std::int64_t>(count, 1));
}

// `n` characters drawn after `prompt`: gpt sees the last 64 characters each time; lstm/gru
// read the prompt once and then carry their state, one character per call.
std::string sample(char_lm::LanguageModel& model, const char_lm::Corpus& corpus, const Options& o) {
  if (o.sample <= 0) return {};
  tg::NoGradGuard no_grad;
  model.eval();
  tg::Generator gen(o.seed);
  std::vector<std::int64_t> context = corpus.encode(o.prompt);
  if (context.empty()) context = {0};
  const std::int64_t V = corpus.vocab_size();
  char_lm::State state;
  std::vector<std::int64_t> drawn;
  std::vector<double> row(static_cast<std::size_t>(V));
  for (std::int64_t i = 0; i < o.sample; ++i) {
    std::span<const std::int64_t> input(context);
    if (!model.recurrent())
      input = input.last(std::min<std::size_t>(input.size(), kContext));
    else if (i > 0)
      input = input.last(1);
    Tensor ids = tg::from_vector(input, {1, static_cast<std::int64_t>(input.size())});
    Tensor logits = model.logits(ids, state);
    const float* last = logits.data<float>() + (logits.numel() - V);
    for (std::int64_t v = 0; v < V; ++v) row[v] = last[v] / std::max(o.temperature, 1e-8);
    if (o.top_k > 0 && o.top_k < V) {
      std::vector<double> sorted = row;
      std::nth_element(sorted.begin(), sorted.begin() + (o.top_k - 1), sorted.end(), std::greater<>());
      const double kth = sorted[o.top_k - 1];
      for (double& x : row)
        if (x < kth) x = -std::numeric_limits<double>::infinity();
    }
    Tensor probs = tg::softmax(tg::from_vector(row, {V}), 0);
    const auto next = tg::multinomial(probs, 1, false, gen).item<std::int64_t>();
    drawn.push_back(next);
    context.push_back(next);
  }
  model.train();
  return corpus.decode(drawn);
}

// The checkpoint's metadata: the spec's keys, plus what a resumed run needs to go on exactly
// as an uninterrupted one (batch size, seed, the training loss since the last printed line).
std::map<std::string, std::string> checkpoint_metadata(const Options& o, const char_lm::Corpus& corpus,
                                                       std::int64_t step, double loss_sum, std::int64_t loss_steps) {
  std::map<std::string, std::string> m{{"model", o.model},
                                       {"step", std::to_string(step)},
                                       {"vocab", corpus.vocab_utf8()},
                                       {"batch_size", std::to_string(o.batch_size)},
                                       {"seed", std::to_string(o.seed)},
                                       {"lr", fmt::format("{}", o.lr)},
                                       {"loss_sum", fmt::format("{}", loss_sum)},
                                       {"loss_steps", std::to_string(loss_steps)},
                                       {"context", std::to_string(kContext)}};
  if (o.model == "gpt") {
    const char_lm::GptConfig c;
    m.insert({{"n_layer", std::to_string(c.n_layer)},
              {"n_head", std::to_string(c.n_head)},
              {"n_embd", std::to_string(c.n_embd)}});
  } else {
    m.insert({{"n_layer", std::to_string(char_lm::RecurrentLM::kLayers)},
              {"n_embd", std::to_string(char_lm::RecurrentLM::kEmbed)},
              {"hidden_size", std::to_string(char_lm::RecurrentLM::kHidden)}});
  }
  return m;
}

// This process's run id (8 hex digits): tags its checkpoint companions.
const std::string& run_id() {
  static const std::string id = [] {
    std::random_device device;
    return fmt::format("{:08x}", device());
  }();
  return id;
}

// Removes the files PATH.<kind>.s<step>-<run id> except `keep`, and the older layout's PATH.<kind>.
void remove_companions(const std::string& path, const std::string& kind, const std::string& keep) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const std::string prefix = p.filename().string() + "." + kind + ".s";
  const std::regex tail("[0-9]+-[0-9a-f]{8}");
  // The temporaries of companions whose writer was killed (write_file_atomic cleans up only
  // its own path's, and a companion's path is never written twice).
  const std::regex temporary("[0-9]+-[0-9a-f]{8}\\.tmp\\.([0-9]+)\\.[0-9]+");
  std::error_code ec;
  std::vector<fs::path> old;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name == keep || name.rfind(prefix, 0) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    std::smatch match;
    if (std::regex_match(rest, tail))
      old.push_back(it->path());
    else if (std::regex_match(rest, match, temporary) && ::kill(std::stoi(match[1].str()), 0) != 0 && errno == ESRCH)
      old.push_back(it->path());
  }
  for (const auto& f : old) fs::remove(f, ec);
  fs::remove(path + "." + kind, ec);
}

// PATH: the model's state_dict under PyTorch's names with the metadata above; its companions
// PATH.optim.s<step>-<run id> (the optimizer's state) and PATH.state.s<step>-<run id> (lstm/gru:
// the hidden state the next step starts from) are written first and named in PATH's metadata,
// so PATH is the commit point: a kill at any instant leaves a PATH whose companions exist and
// belong to it. Superseded companions are removed last.
void save_checkpoint(const std::string& path, const tg::Module& model, const tg::Optimizer& optimizer,
                     const char_lm::State& state, std::map<std::string, std::string> metadata) {
  namespace fs = std::filesystem;
  const std::string tag = fmt::format("s{}-{}", metadata.at("step"), run_id());
  const std::map<std::string, std::string> pairing = {{"step", metadata.at("step")}, {"run_id", run_id()}};
  metadata["run_id"] = run_id();
  const std::string optim = path + ".optim." + tag, hidden = path + ".state." + tag;
  tg::save_safetensors(optimizer.state_dict(), optim, pairing);
  metadata["optimizer"] = fs::path(optim).filename().string();
  if (state.h.defined()) {
    std::vector<std::pair<std::string, Tensor>> tensors{{"h", state.h}};
    if (state.c.defined()) tensors.emplace_back("c", state.c);
    tg::save_safetensors(tensors, hidden, pairing);
    metadata["state"] = fs::path(hidden).filename().string();
  }
  tg::save_safetensors(model.state_dict(), path, metadata);
  remove_companions(path, "optim", metadata.at("optimizer"));
  remove_companions(path, "state", metadata.count("state") ? metadata.at("state") : "");
}

// The companion file PATH's metadata names under `kind` ("optimizer" or "state"), checked to
// carry PATH's step and run id; PATH.optim / PATH.state for a checkpoint of the older layout.
std::string companion(const std::string& path, const std::map<std::string, std::string>& m, const std::string& kind,
                      const std::string& counter) {
  namespace fs = std::filesystem;
  if (!m.count(kind)) return path + (kind == "optimizer" ? ".optim" : ".state");
  const fs::path p(path);
  const std::string file = (p.has_parent_path() ? p.parent_path() / m.at(kind) : fs::path(m.at(kind))).string();
  if (!fs::exists(file))
    tg::fail<tg::IoError>(
        "{} names its {} file {}, which does not exist; copy a checkpoint with its companion "
        "files, or start without --resume",
        path, kind, file);
  auto theirs = tg::load_safetensors_metadata(file);
  auto get = [](const std::map<std::string, std::string>& x, const char* key) {
    return x.count(key) ? x.at(key) : std::string("?");
  };
  if (get(theirs, counter.c_str()) != get(m, counter.c_str()) || get(theirs, "run_id") != get(m, "run_id"))
    tg::fail<tg::IoError>(
        "{} ({} {}, run {}) and its {} file {} ({} {}, run {}) do not belong together; restore the "
        "files of one save",
        path, counter, get(m, counter.c_str()), get(m, "run_id"), kind, file, counter, get(theirs, counter.c_str()),
        get(theirs, "run_id"));
  return file;
}

// On --resume: the batch size, lr and seed not passed are the checkpoint's; one passed and
// different is a ValueError listing every difference, unless --override-config.
void resolve_resume_config(Options& o, const std::map<std::string, std::string>& saved) {
  auto given = [&](const std::string& key) { return o.config_flags.count(key) && o.config_flags.at(key)->count(); };
  auto mine = [&](const std::string& key) {
    return key == "seed" ? std::to_string(o.seed)
           : key == "lr" ? fmt::format("{}", o.lr)
                         : std::to_string(o.batch_size);
  };
  std::vector<std::string> differences;
  for (const std::string key : {"batch_size", "lr", "seed"}) {
    if (!saved.count(key)) continue;
    if (!given(key)) {
      const std::string& v = saved.at(key);
      if (key == "seed") o.seed = std::stoull(v);
      if (key == "lr") o.lr = std::stod(v);
      if (key == "batch_size") o.batch_size = std::stoll(v);
    } else if (mine(key) != saved.at(key)) {
      std::string flag = "--" + key;
      std::replace(flag.begin(), flag.end(), '_', '-');
      differences.push_back(fmt::format("{} {} (the checkpoint has {})", flag, mine(key), saved.at(key)));
    }
  }
  if (differences.empty()) return;
  if (!o.override_config)
    tg::fail<tg::ValueError>(
        "--resume {}: {} differ{} from the checkpoint's; drop the flag to use the checkpoint's value, or pass "
        "--override-config to continue with the new one, e.g. to fine-tune at another learning rate",
        o.resume, fmt::join(differences, ", "), differences.size() == 1 ? "s" : "");
  for (const auto& d : differences) fmt::print(stderr, "char_lm: --override-config: {}\n", d);
}

struct Resumed {
  std::int64_t step = 0;
  double loss_sum = 0;
  std::int64_t loss_steps = 0;
};

std::int64_t parse_int(const std::map<std::string, std::string>& m, const std::string& key, const std::string& path) {
  try {
    return std::stoll(m.at(key));
  } catch (const std::exception&) {
    tg::fail<tg::IoError>("{} has no valid '{}' in its metadata; it was not written by char_lm --save", path, key);
  }
}

Resumed load_checkpoint(const std::string& path, const Options& o, const char_lm::Corpus& corpus,
                        char_lm::LanguageModel& model, tg::Optimizer& optimizer, char_lm::State& state,
                        std::int64_t chunks) {
  auto m = tg::load_safetensors_metadata(path);
  if (!m.count("model") || !m.count("step") || !m.count("vocab"))
    tg::fail<tg::IoError>("{} has no 'model', 'step' and 'vocab' in its metadata; it was not written by char_lm --save",
                          path);
  if (m.at("model") != o.model)
    tg::fail<tg::ValueError>("{} is a checkpoint of --model {}, not {}; pass --model {}", path, m.at("model"), o.model,
                             m.at("model"));
  if (m.at("vocab") != corpus.vocab_utf8())
    tg::fail<tg::ValueError>(
        "{} was trained on a text with another vocabulary ({} characters) than this text's ({} characters); "
        "resume with the same --text",
        path, char_lm::decode_text(m.at("vocab")).size(), corpus.vocab.size());
  Resumed r;
  r.step = parse_int(m, "step", path);
  if (r.step < 0) tg::fail<tg::IoError>("{}: negative step {} in its metadata", path, r.step);
  if (m.count("loss_sum") && m.count("loss_steps")) {
    r.loss_sum = std::stod(m.at("loss_sum"));
    r.loss_steps = parse_int(m, "loss_steps", path);
  }
  tg::load_module(model, path);
  tg::load_optimizer(optimizer, companion(path, m, "optimizer", "step"));
  if (model.recurrent() && r.step > 0 && r.step % chunks != 0) {
    state.reset();
    for (auto& [name, t] : tg::load_safetensors(companion(path, m, "state", "step")))
      (name == "c" ? state.c : state.h) = t;
    const tg::Shape want{char_lm::RecurrentLM::kLayers, o.batch_size, char_lm::RecurrentLM::kHidden};
    if (!state.h.defined() || state.h.shape() != want || (o.model == "lstm" && !state.c.defined()))
      tg::fail<tg::IoError>("{}.state does not hold the hidden state of this model and batch size", path);
  }
  return r;
}

// One line, redrawn in place while training runs (common/progress.hpp: only on a terminal,
// fitted to its width), with the time left at the rate since the last printed line.
void progress(std::int64_t step, std::int64_t steps, double tok_per_s, double loss, std::int64_t timed_steps,
              double seconds) {
  examples::draw_progress({.label = fmt::format("step {}", step),
                           .done = step,
                           .total = steps,
                           .rate = tok_per_s,
                           .unit = "tok/s",
                           .eta = examples::eta_seconds(timed_steps, steps - step, seconds),
                           .loss = loss});
}
void clear_progress() { examples::clear_progress(); }

// The configuration as resolved and the model's summary (one window of 64 ids), on stdout
// before the first step line.
void print_setup(const Options& o, const char_lm::Corpus& corpus, const std::string& source,
                 char_lm::LanguageModel& model, int ranks) {
  const Tensor ids = tg::zeros({1, kContext}, {.dtype = tg::kInt64});
  const std::string table = tg::summary(model, [&] {
                              char_lm::State state;
                              return model.logits(ids, state);
                            }).str();
  const bool gpt = o.model == "gpt";
  const char_lm::GptConfig c;
  examples::print_configuration(
      "char_lm",
      {{"model",
        gpt ? fmt::format("gpt ({} blocks, {} heads, {} wide, context {})", c.n_layer, c.n_head, c.n_embd, kContext)
            : fmt::format("{} ({} layers, {} wide, {}-wide embeddings, chunks of {})", o.model,
                          char_lm::RecurrentLM::kLayers, char_lm::RecurrentLM::kHidden, char_lm::RecurrentLM::kEmbed,
                          kContext)},
       {"steps", std::to_string(o.steps)},
       {"batch size", ranks > 1 ? fmt::format("{} ({} per rank, {} ranks)", o.batch_size, o.batch_size / ranks, ranks)
                                : std::to_string(o.batch_size)},
       {"lr", fmt::format("{}", o.lr)},
       {"schedule", "constant"},
       {"optimizer", gpt ? "AdamW (weight decay 0.01)" : "Adam, gradients clipped to norm 1"},
       {"seed", std::to_string(o.seed)},
       {"threads", std::to_string(tg::get_num_threads())},
       {"text", fmt::format("{} ({} characters: {} to train, {} to validate; {} distinct)", source, corpus.ids.size(),
                            corpus.n_train, static_cast<std::int64_t>(corpus.ids.size()) - corpus.n_train,
                            corpus.vocab_size())},
       {"evaluation", o.eval_every > 0 ? fmt::format("every {} steps", o.eval_every) : std::string("at the end")}});
  fmt::print("\n{}\n", table);
  std::fflush(stdout);
}

struct History {
  std::vector<double> step, train_loss, val_loss;
};

// loss.svg and, for gpt, attention_block{b}_head{h}.png; returns the names written.
std::vector<std::string> write_pictures(const Options& o, const char_lm::Corpus& corpus, char_lm::LanguageModel& model,
                                        const History& history, const std::vector<double>& losses,
                                        std::int64_t first_step) {
  const std::filesystem::path dir = tg::viz::output_dir("char_lm --out", o.out);
  std::vector<std::string> written;
  tg::viz::LinePlot plot{.title = fmt::format("char_lm ({}): cross-entropy per character", o.model),
                         .x_label = "step",
                         .y_label = "cross-entropy loss"};
  if (!history.step.empty()) {
    plot.add("train", history.step, history.train_loss).add("val", history.step, history.val_loss);
  } else if (!losses.empty()) {  // no evaluation line: every step's training loss
    std::vector<double> steps(losses.size());
    for (std::size_t i = 0; i < steps.size(); ++i)
      steps[i] = static_cast<double>(first_step + 1) + static_cast<double>(i);
    plot.add("train", steps, losses);
  }
  if (!plot.series.empty()) {
    plot.write((dir / "loss.svg").string());
    written.push_back("loss.svg");
  }
  if (auto* gpt = dynamic_cast<char_lm::Gpt*>(&model)) {
    std::vector<std::int64_t> ids = corpus.encode(o.prompt);
    if (ids.size() < 2) {
      auto val = corpus.val();
      ids.assign(val.begin(), val.begin() + std::min<std::ptrdiff_t>(std::ssize(val), kContext));
    }
    if (ids.size() > static_cast<std::size_t>(kContext)) ids.erase(ids.begin(), ids.end() - kContext);
    tg::NoGradGuard no_grad;
    model.eval();
    const auto t = static_cast<std::int64_t>(ids.size());
    std::vector<Tensor> maps = gpt->attention_maps(tg::from_vector(ids, {1, t}));
    model.train();
    const int scale = std::max(1, static_cast<int>(384 / t));
    for (std::size_t b = 0; b < maps.size(); ++b)
      for (std::int64_t h = 0; h < maps[b].size(0); ++h) {
        std::string name = fmt::format("attention_block{}_head{}.png", b, h);
        tg::viz::write_png((dir / name).string(), maps[b].select(0, h),
                           {.scale = scale, .min = 0.0, .max = 1.0, .colormap = tg::viz::Colormap::sequential});
        written.push_back(name);
      }
  }
  return written;
}

int run(Options& o) {
  int rank = 0, ranks = 1;
#ifdef TAPEGRAD_HAS_DIST
  // Data-parallel: every rank draws the same global batch and trains on its rows of it; DDP
  // averages the gradients. Rank 0 alone evaluates, prints and writes files.
  std::optional<tg::dist::Environment> env;
  if (o.distributed) {
    env.emplace();
    rank = tg::dist::rank();
    ranks = tg::dist::world_size();
  }
#else
  if (o.distributed)
    tg::fail<tg::ValueError>(
        "--distributed needs tapegrad::dist, which this build does not have (no MPI was found when it was "
        "configured); install libopenmpi-dev and openmpi-bin and configure again");
#endif
  const bool lead = rank == 0;
  if (o.batch_size % ranks != 0)
    tg::fail<tg::ValueError>(
        "--batch-size {} is the global batch and must split evenly over the {} ranks; pass a "
        "multiple of {}",
        o.batch_size, ranks, ranks);
  if (ranks > 1 && !o.resume.empty() && o.model != "gpt")
    tg::fail<tg::ValueError>(
        "--resume with --distributed is for gpt: an {} checkpoint holds one process's hidden "
        "state; resume it without --distributed",
        o.model);
  if (o.threads > 0) tg::set_num_threads(o.threads);
  if (lead) fmt::print(stderr, "char_lm: {}\n", tg::cpu_summary());
  const bool gpt = o.model == "gpt";
  if (o.lr == 0) o.lr = gpt ? 3e-3 : 2e-3;
  if (!o.resume.empty()) resolve_resume_config(o, tg::load_safetensors_metadata(o.resume));
  const std::int64_t B = o.batch_size, T = kContext;

  const char_lm::Corpus corpus = char_lm::Corpus::load(o.text);
  const auto n = static_cast<std::int64_t>(corpus.ids.size()), n_val = n - corpus.n_train;
  const std::string source = o.text.empty() ? std::string(char_lm::kFortunes) : o.text;
  if (gpt && (corpus.n_train <= T || n_val <= T))
    tg::fail<tg::ValueError>(
        "{} is too short: {} characters split into {} for training and {} for validation, and gpt needs more than "
        "{} in each; pass a longer --text",
        source, n, corpus.n_train, n_val, T);
  if (!gpt && (corpus.n_train / B <= T || n_val / B <= T))
    tg::fail<tg::ValueError>(
        "{} is too short for {} streams: {} characters split into {} for training and {} for validation, and each "
        "of the {} streams of each needs more than {}; pass a smaller --batch-size or a longer --text",
        source, B, n, corpus.n_train, n_val, B, T);

  tg::manual_seed(o.seed);
  tg::Generator gen(o.seed);
  std::shared_ptr<char_lm::LanguageModel> model = char_lm::make_model(o.model, corpus.vocab_size(), gen);
  if (!o.init.empty()) tg::load_module(*model, o.init);
  const std::vector<Tensor> params = model->parameters();
  std::unique_ptr<tg::Optimizer> optimizer;
  if (gpt)
    optimizer = std::make_unique<tg::AdamW>(params, o.lr, std::array<double, 2>{0.9, 0.999}, 1e-8, 0.01);
  else
    optimizer = std::make_unique<tg::Adam>(params, o.lr);

  std::optional<char_lm::RandomWindows> windows;
  std::optional<char_lm::Streams> streams;
  if (gpt)
    windows.emplace(corpus.train(), B, o.seed);
  else
    streams.emplace(corpus.train(), B);

  char_lm::State state;
  Resumed resumed;
  if (!o.resume.empty())
    resumed = load_checkpoint(o.resume, o, corpus, *model, *optimizer, state, streams ? streams->chunks() : 1);
  optimizer->set_lr(o.lr);  // the checkpoint's, or --override-config's
  const std::int64_t first_step = resumed.step;
  if (windows) windows->skip_steps(first_step);

  // What trains: the model, or DDP around it (which copies rank 0's parameters everywhere).
  // Dropout then draws from a generator seeded with seed + rank, so that each rank's masks
  // differ, as separate processes' would in PyTorch.
  const std::int64_t rank_rows = B / ranks;
#ifdef TAPEGRAD_HAS_DIST
  std::unique_ptr<tg::dist::DistributedDataParallel> ddp;
  if (o.distributed) {
    ddp = std::make_unique<tg::dist::DistributedDataParallel>(model);
    tg::manual_seed(o.seed + static_cast<std::uint64_t>(rank));
  }
#endif
  auto my_rows = [&](const Tensor& t) { return ranks == 1 ? t : tg::narrow(t, 0, rank * rank_rows, rank_rows); };

  std::optional<std::string> metrics;  // the CSV's text, rewritten whole at every evaluation line
  if (!o.metrics.empty() && lead)
    metrics =
        examples::open_metrics(o.metrics, "step,train_loss,val_loss,tok_per_s", first_step > 0 ? first_step + 1 : 0);

  if (lead) print_setup(o, corpus, source, *model, ranks);
  const std::int64_t V = corpus.vocab_size();
  std::vector<std::pair<std::string, Tensor>> dump;  // the first step's tensors, for --dump
  std::vector<double> losses;                        // every step's training loss
  History history;
  double loss_sum = resumed.loss_sum, seconds = 0;
  std::int64_t loss_steps = resumed.loss_steps, timed_steps = 0, saved_step = -1;
  for (std::int64_t s = first_step; s < o.steps; ++s) {
    const auto start = std::chrono::steady_clock::now();
    char_lm::Batch batch = gpt ? windows->next() : streams->for_step(s);
    if (batch.reset) state.reset();
    state.detach();
    std::unique_ptr<tg::TapeRecorder> recorder;  // --html: the first step, for the tape explorer
    if (s == first_step && lead && !o.html.empty())
      recorder = std::make_unique<tg::TapeRecorder>(model->named_parameters());
    Tensor logits = model->logits(my_rows(batch.x), state);
    Tensor loss = tg::cross_entropy(logits.reshape({-1, V}), my_rows(batch.y).reshape({-1}));
    optimizer->zero_grad();
    loss.backward();
    if (recorder) {
      recorder->stop();
      recorder->write_html(o.html, fmt::format("char_lm {}: the first training step", o.model));
      fmt::print(stderr, "char_lm: tape explorer of the first step written to {}\n", o.html);
      recorder.reset();
    }
    if (!gpt) tg::clip_grad_norm_(params, 1.0);
    if (s == first_step && !o.dump.empty()) {
      tg::NoGradGuard no_grad;
      dump.emplace_back("logits", logits.detach().clone());
      dump.emplace_back("loss", loss.detach().clone());
      for (const auto& [name, p] : model->named_parameters()) dump.emplace_back("grad." + name, p.grad().clone());
    }
    optimizer->step();
    double value = loss.item<double>();
#ifdef TAPEGRAD_HAS_DIST
    if (ranks > 1) {  // the mean over the global batch, for the printed losses
      Tensor v = tg::tensor({value}, {.dtype = tg::kFloat64});
      tg::dist::all_reduce_(v, tg::dist::ReduceOp::kMean);
      value = v.item<double>();
    }
#endif
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++timed_steps;
    losses.push_back(value);
    loss_sum += value;
    ++loss_steps;
    const double tok_per_s = static_cast<double>(timed_steps * B * T) / seconds;
    if (lead) progress(s + 1, o.steps, tok_per_s, loss_sum / static_cast<double>(loss_steps), timed_steps, seconds);
    if (o.eval_every > 0 && (s + 1) % o.eval_every == 0 && !lead) {
      loss_sum = 0;
      loss_steps = timed_steps = 0;
      seconds = 0;
    } else if (o.eval_every > 0 && (s + 1) % o.eval_every == 0) {
      const double train_loss = loss_sum / static_cast<double>(loss_steps);
      const double val_loss = evaluate(*model, V, corpus.val(), B, o.eval_batches);
      clear_progress();
      fmt::print("step {} train_loss {:.4f} val_loss {:.4f} tok_per_s {:.0f}\n", s + 1, train_loss, val_loss,
                 tok_per_s);
      std::fflush(stdout);
      if (metrics) {
        *metrics += fmt::format("{},{:.6f},{:.6f},{:.1f}\n", s + 1, train_loss, val_loss, tok_per_s);
        examples::write_metrics(o.metrics, *metrics);
      }
      history.step.push_back(static_cast<double>(s + 1));
      history.train_loss.push_back(train_loss);
      history.val_loss.push_back(val_loss);
      loss_sum = 0;
      loss_steps = timed_steps = 0;
      seconds = 0;
      if (!o.save.empty()) {
        save_checkpoint(o.save, *model, *optimizer, state, checkpoint_metadata(o, corpus, s + 1, 0, 0));
        saved_step = s + 1;
      }
    }
  }
  if (!lead) return 0;
  clear_progress();

  const double final_val = evaluate(*model, V, corpus.val(), B, 0);
  fmt::print("final val_loss {:.4f}\n", final_val);
  std::fflush(stdout);
  if (!o.dump.empty() && !dump.empty()) {
    dump.emplace_back("losses", tg::from_vector(losses, {static_cast<std::int64_t>(losses.size())}));
    tg::save_safetensors(dump, o.dump,
                         {{"model", o.model}, {"steps", std::to_string(o.steps)}, {"source", "examples/char_lm"}});
  }
  const std::int64_t last_step = std::max(first_step, o.steps);
  if (!o.save.empty() && saved_step != last_step)
    save_checkpoint(o.save, *model, *optimizer, state, checkpoint_metadata(o, corpus, last_step, loss_sum, loss_steps));
  if (!o.out.empty()) {
    std::vector<std::string> files = write_pictures(o, corpus, *model, history, losses, first_step);
    // On stderr, so that stdout keeps the lines of the spec.
    fmt::print(stderr, "char_lm: wrote {} to {}\n", fmt::join(files, ", "), o.out);
  }
  if (std::string text = sample(*model, corpus, o); !text.empty()) {
    fmt::print("{}\n", text);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Train a character-level language model (a small GPT, an LSTM or a GRU) with tapegrad"};
  examples::add_version_flag(app, "char_lm");
  app.option_defaults()->always_capture_default();  // --help shows every default
  app.add_option("--model", o.model, "gpt (a 2-block transformer), lstm or gru")
      ->check(CLI::IsMember({"gpt", "lstm", "gru"}));
  app.add_option("--text", o.text,
                 "train on this file (UTF-8, or Latin-1 when it is not UTF-8); default: the fortune cookies of "
                 "Debian's fortunes package in /usr/share/games/fortunes (its regular files but the .dat indexes, in "
                 "name order)")
      ->default_str(char_lm::kFortunes);
  app.add_option("--steps", o.steps, "training steps")->check(CLI::NonNegativeNumber);
  o.config_flags["batch_size"] =
      app.add_option("--batch-size", o.batch_size, "sequences of 64 characters per step")->check(CLI::PositiveNumber);
  o.config_flags["lr"] = app.add_option("--lr", o.lr, "learning rate (default: 3e-3 gpt, 2e-3 lstm and gru)")
                             ->check(CLI::PositiveNumber)
                             ->default_str("3e-3 (gpt) or 2e-3 (lstm, gru)");
  o.config_flags["seed"] = app.add_option("--seed", o.seed, "seed of the initialisation, the batches and the sample");
  app.add_option("--threads", o.threads, "threads to use (0: one per core)")
      ->check(CLI::NonNegativeNumber)
      ->default_str("one per core");
  app.add_flag("--distributed", o.distributed,
               "train data-parallel over MPI: start with mpirun -np N; --batch-size is the global batch, split over "
               "the ranks; rank 0 alone evaluates, prints and writes files");
  app.add_option("--eval-every", o.eval_every, "evaluate and print a line every N steps (0: never)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--eval-batches", o.eval_batches,
                 "batches (chunks for lstm/gru) of the validation text each periodic evaluation uses (0: all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--sample", o.sample, "characters to generate after training")->check(CLI::NonNegativeNumber);
  app.add_option("--temperature", o.temperature, "divides the logits before sampling")->check(CLI::NonNegativeNumber);
  app.add_option("--top-k", o.top_k, "sample among the K most likely characters (0: all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--prompt", o.prompt, "the text the sample continues (default: a newline)")->default_str("\\n");
  app.add_option("--metrics", o.metrics, "write a CSV row per evaluation line (step,train_loss,val_loss,tok_per_s)");
  app.add_option("--save", o.save,
                 "save a checkpoint (safetensors, PyTorch's names) at every evaluation line and after training; "
                 "the optimizer's state goes to PATH.optim.s<step>-<run id>, an lstm/gru's hidden state to "
                 "PATH.state.s<step>-<run id>, both named in PATH's metadata");
  auto* resume = app.add_option("--resume", o.resume,
                                "continue from a checkpoint written by --save; the batch size, lr and seed you do not "
                                "pass are the checkpoint's");
  app.add_flag("--override-config", o.override_config,
               "with --resume: continue with the values passed even where they differ from the checkpoint's (e.g. to "
               "fine-tune at another learning rate)");
  app.add_option("--init", o.init, "load the initial weights from a safetensors file (PyTorch's names, strict)")
      ->excludes(resume);
  app.add_option("--html", o.html,
                 "write the tape explorer of the first training step: one self-contained page that steps through its "
                 "forward and backward in a browser, entry by entry");
  app.add_option("--dump", o.dump,
                 "after training, write the first step's logits, loss and gradients (grad.<name>) and every "
                 "step's training loss (losses) to a safetensors file");
  app.add_option("--out", o.out,
                 "write pictures into this directory (created if needed): loss.svg, and for gpt "
                 "attention_block{B}_head{H}.png, each head's attention over the prompt (or, for a prompt of fewer "
                 "than 2 characters, the first 64 characters of the validation text)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    fmt::print(stderr, "char_lm: {}\n", e.what());
    return 1;
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "char_lm: {}\n", e.what());
    return 1;
  }
}
