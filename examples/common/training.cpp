// SPDX-License-Identifier: MIT
#include "common/training.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <regex>

#include <fmt/core.h>
#include <fmt/format.h>

#include "common/pictures.hpp"
#include "common/progress.hpp"
#include "tapegrad/layers/summary.hpp"
#include "tapegrad/viz.hpp"

namespace examples {

using tg::Tensor;

bool distributed_available() {
#ifdef TAPEGRAD_HAS_DIST
  return true;
#else
  return false;
#endif
}

std::shared_ptr<tg::Module> make_norm(const TrainOptions& o, std::int64_t channels, int dims) {
#ifdef TAPEGRAD_HAS_DIST
  if (o.distributed) return std::make_shared<tg::dist::SyncBatchNorm>(channels);
#else
  (void)o;
#endif
  if (dims == 2) return std::make_shared<tg::BatchNorm2D>(channels);
  return std::make_shared<tg::BatchNorm1D>(channels);
}

void add_training_options(CLI::App& app, TrainOptions& o, const std::string& batch_help, const std::string& lr_help) {
  app.add_option("--epochs", o.epochs, "epochs to train (0: evaluate only, e.g. weights given by --init)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  o.config_flags["batch_size"] = app.add_option("--batch-size", o.batch_size, batch_help)->check(CLI::PositiveNumber);
  o.config_flags["lr"] = app.add_option("--lr", o.lr, lr_help)->check(CLI::PositiveNumber);
  o.config_flags["schedule"] =
      app.add_option(
             "--schedule", o.schedule,
             "learning-rate schedule: constant, or cosine (annealed per epoch from --lr towards 0 over --epochs)")
          ->check(CLI::IsMember({"constant", "cosine"}))
          ->capture_default_str();
  o.config_flags["seed"] =
      app.add_option("--seed", o.seed, "seed for initialisation and shuffling")->capture_default_str();
  // Note: results depend on the thread count only through the order of sums (see
  // docs/performance.md); a run is reproducible for a given count.
  app.add_option("--threads", o.threads, "threads to use (0: one per core)")
      ->check(CLI::NonNegativeNumber)
      ->default_str("one per core");
  app.add_option("--data", o.data, fashion_mnist_search_help())->default_str(tg::FashionMNIST::default_root());
  app.add_option("--limit", o.limit, "train on the first N images only (0: all 60000)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--test-limit", o.test_limit, "evaluate on the first N test images only (0: all 10000)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--metrics", o.metrics, "write a CSV row per epoch");
  app.add_option("--save", o.save, "save a checkpoint (safetensors) after every epoch");
  CLI::Option* resume = app.add_option("--resume", o.resume,
                                       "resume from a checkpoint written by --save; the seed, batch size, lr and "
                                       "schedule you do not pass are the checkpoint's");
  app.add_flag("--override-config", o.override_config,
               "with --resume: continue with the values passed even where they differ from the checkpoint's (e.g. to "
               "fine-tune at another learning rate)");
  app.add_option("--init", o.init,
                 "initial weights: a state_dict as safetensors under PyTorch's names (--save's file, or PyTorch's "
                 "model.state_dict()), loaded strictly")
      ->excludes(resume);  // the checkpoint's weights would silently win
  app.add_option("--logits", o.logits,
                 "after the run, write the test images' logits ([N, 10] float32 'logits', int64 'labels') as "
                 "safetensors");
  app.add_option("--out", o.out,
                 "write pictures into this directory (created if needed): loss.svg, accuracy.svg (the epochs this "
                 "run trained), confusion.svg and confusion.png (the test set after the last epoch), "
                 "conv1_filters.png");
  app.add_flag("--distributed", o.distributed,
               "train data-parallel over MPI: start with mpirun -np N (one rank per process); --batch-size is the "
               "global batch, split over the ranks; rank 0 alone prints and writes files");
  app.add_option("--graph", o.graph,
                 "write the graph of the first training step's loss: FILE.dot (Graphviz source) or FILE.svg "
                 "(rendered with Graphviz's dot, Debian's graphviz package)");
  app.add_option("--html", o.html,
                 "write the tape explorer of the first training step: one self-contained page that steps through its "
                 "forward and backward in a browser, entry by entry");
}

namespace {

namespace fs = std::filesystem;

// This process's run id: tags its checkpoint companions, so that a companion is known to
// belong to the PATH that names it (8 hex digits).
const std::string& run_id() {
  static const std::string id = [] {
    std::random_device device;
    return fmt::format("{:08x}", device());
  }();
  return id;
}

// The companion files of `path` (PATH.optim.e<epoch>-<run id>) in its directory.
std::vector<fs::path> companions(const std::string& path) {
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const std::string prefix = p.filename().string() + ".optim.e";
  const std::regex tail("[0-9]+-[0-9a-f]{8}");
  // The temporaries of companions whose writer was killed (write_file_atomic cleans up only
  // its own path's, and a companion's path is never written twice).
  const std::regex temporary("[0-9]+-[0-9a-f]{8}\\.tmp\\.([0-9]+)\\.[0-9]+");
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    std::smatch match;
    if (std::regex_match(rest, tail))
      out.push_back(it->path());
    else if (std::regex_match(rest, match, temporary) && ::kill(std::stoi(match[1].str()), 0) != 0 && errno == ESRCH)
      out.push_back(it->path());
  }
  return out;
}

}  // namespace

void save_checkpoint(const std::string& program, const std::string& path, const tg::Module& net,
                     const tg::Optimizer& optimizer, int epoch, const std::map<std::string, std::string>& config) {
  const std::string tag = fmt::format("e{}-{}", epoch, run_id());
  const std::string companion = path + ".optim." + tag;
  const std::map<std::string, std::string> pairing = {{"epoch", std::to_string(epoch)}, {"run_id", run_id()}};
  // 1. the optimizer, in a file no earlier checkpoint names
  tg::save_safetensors(optimizer.state_dict(), companion, pairing);
  // 2. the commit point: PATH, naming it
  std::map<std::string, std::string> metadata = config;
  metadata.insert(pairing.begin(), pairing.end());
  metadata["program"] = program;
  metadata["optimizer"] = fs::path(companion).filename().string();
  tg::save_safetensors(net.state_dict(), path, metadata);
  // 3. the companions PATH no longer names (and the older layout's PATH.optim)
  for (const auto& old : companions(path))
    if (old.filename() != fs::path(companion).filename()) fs::remove(old);
  std::error_code ec;
  fs::remove(path + ".optim", ec);
}

int load_checkpoint(const std::string& program, const std::string& path, tg::Module& net, tg::Optimizer& optimizer) {
  auto metadata = tg::load_safetensors_metadata(path);
  if (!metadata.count("epoch"))
    tg::fail<tg::IoError>("{} has no 'epoch' in its metadata; it was not written by {} --save", path, program);
  if (metadata.count("program") && metadata.at("program") != program)
    tg::fail<tg::ValueError>("{} is a checkpoint of {}, not of {}; resume it with {}", path, metadata.at("program"),
                             program, metadata.at("program"));
  std::string optim_path = path + ".optim";  // the older layout
  if (metadata.count("optimizer")) {
    const fs::path p(path);
    optim_path = (p.has_parent_path() ? p.parent_path() / metadata.at("optimizer") : fs::path(metadata.at("optimizer")))
                     .string();
    if (!fs::exists(optim_path))
      tg::fail<tg::IoError>(
          "{} names its optimizer state {}, which does not exist; copy a checkpoint with its "
          "companion file, or start without --resume",
          path, optim_path);
    auto theirs = tg::load_safetensors_metadata(optim_path);
    for (const char* key : {"epoch", "run_id"})
      if (!theirs.count(key) || theirs.at(key) != metadata.at(key))
        tg::fail<tg::IoError>(
            "{} (epoch {}, run {}) and its optimizer state {} (epoch {}, run {}) do not belong "
            "together; restore the pair from one save",
            path, metadata.at("epoch"), metadata.count("run_id") ? metadata.at("run_id") : "?", optim_path,
            theirs.count("epoch") ? theirs.at("epoch") : "?", theirs.count("run_id") ? theirs.at("run_id") : "?");
  }
  tg::load_module(net, path);
  tg::load_optimizer(optimizer, optim_path);
  return std::stoi(metadata.at("epoch"));
}

std::map<std::string, std::string> checkpoint_config(const TrainOptions& o) {
  std::map<std::string, std::string> config = {{"seed", std::to_string(o.seed)},
                                               {"batch_size", std::to_string(o.batch_size)},
                                               {"lr", fmt::format("{}", o.lr)},
                                               {"schedule", o.schedule}};
  return config;
}

void resolve_resume_config(const std::string& program, TrainOptions& o,
                           const std::map<std::string, std::string>& saved) {
  // Sets a setting from its string, as checkpoint_config wrote it.
  auto set = [&](const std::string& key, const std::string& value) {
    if (key == "seed") o.seed = std::stoull(value);
    if (key == "batch_size") o.batch_size = std::stoll(value);
    if (key == "lr") o.lr = std::stod(value);
    if (key == "schedule") o.schedule = value;
  };
  auto given = [&](const std::string& key) {
    auto it = o.config_flags.find(key);
    return it != o.config_flags.end() && it->second && it->second->count() > 0;
  };
  // The values not passed first.
  for (const auto& [key, value] : checkpoint_config(o))
    if (saved.count(key) && !given(key)) set(key, saved.at(key));
  std::vector<std::string> differences;
  for (const auto& [key, value] : checkpoint_config(o)) {
    if (!saved.count(key) || saved.at(key) == value) continue;
    std::string flag = "--" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    differences.push_back(fmt::format("{} {} (the checkpoint has {})", flag, value, saved.at(key)));
  }
  if (differences.empty()) return;
  if (!o.override_config)
    tg::fail<tg::ValueError>(
        "--resume {}: {} differ{} from the checkpoint's; drop the flag to use the checkpoint's value, or pass "
        "--override-config to continue with the new one, e.g. to fine-tune at another learning rate",
        o.resume, fmt::join(differences, ", "), differences.size() == 1 ? "s" : "");
  for (const auto& d : differences) fmt::print(stderr, "{}: --override-config: {}\n", program, d);
}

void load_init(const std::string& path, tg::Module& net) {
  const char* fix =
      "pass a state_dict of this network (its --save file, or PyTorch's model.state_dict() as safetensors)";
  try {
    tg::load_module(net, path);
  } catch (const tg::ShapeError& err) {
    tg::fail<tg::ShapeError>("--init {}: {}; {}", path, err.what(), fix);
  } catch (const tg::ValueError& err) {
    tg::fail<tg::ValueError>("--init {}: {}; {}", path, err.what(), fix);
  } catch (const tg::IoError& err) {
    tg::fail<tg::IoError>("--init {}: {}; {}", path, err.what(), fix);
  }
}

namespace {

// This process's place in a data-parallel run (rank 0 of 1 otherwise), and the sums over ranks.
struct Ranks {
  int rank = 0, size = 1;
  std::int64_t sum(std::int64_t v) const { return static_cast<std::int64_t>(sum(static_cast<double>(v))); }
  double sum(double v) const {
#ifdef TAPEGRAD_HAS_DIST
    if (size > 1) {
      Tensor t = tg::tensor({v}, {.dtype = tg::kFloat64});
      tg::dist::all_reduce_(t);
      return t.item<double>();
    }
#endif
    return v;
  }
  void sum_(Tensor& t) const {
#ifdef TAPEGRAD_HAS_DIST
    if (size > 1) tg::dist::all_reduce_(t);
#else
    (void)t;
#endif
  }
};

// Number of rows of `logits` whose largest entry is at the row's label. With `confusion`
// ([K, K]), also adds 1 at [label, predicted] for each row.
std::int64_t correct(const Tensor& logits, const Tensor& labels, Tensor* confusion = nullptr) {
  std::int64_t n = logits.size(0), k = logits.size(1), hits = 0;
  const float* p = logits.data<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < k; ++j)
      if (p[i * k + j] > p[i * k + best]) best = j;
    auto label = labels.at<std::int64_t>({i});
    hits += best == label;
    if (confusion) confusion->data<float>()[label * k + best] += 1;
  }
  return hits;
}

// Test accuracy; with `confusion` ([10, 10] zeros), also counts [label, predicted].
// Data-parallel: rank r evaluates batches r, r + N, ... and the counts are summed over ranks.
double evaluate(Experiment& e, const tg::FashionMNIST& test, std::int64_t batch_size, Tensor* confusion,
                const Ranks& ranks) {
  tg::NoGradGuard no_grad;
  e.net->eval();
  std::int64_t hits = 0, index = 0;
  for (auto it = tg::DataLoader(test, batch_size, /*shuffle=*/false); const auto& batch : it) {
    if (index++ % ranks.size != ranks.rank) continue;
    hits += correct((*e.net)(e.prepare(batch.images())), batch.labels(), confusion);
  }
  e.net->train();
  hits = ranks.sum(hits);
  if (confusion) ranks.sum_(*confusion);
  return static_cast<double>(hits) / static_cast<double>(test.size());
}

// --logits: the network's logits on every test image, in order, and the labels.
void write_logits(Experiment& e, const tg::FashionMNIST& test, std::int64_t batch_size, const std::string& path) {
  tg::NoGradGuard no_grad;
  e.net->eval();
  std::vector<Tensor> logits, labels;
  for (auto it = tg::DataLoader(test, batch_size, /*shuffle=*/false); const auto& batch : it) {
    logits.push_back((*e.net)(e.prepare(batch.images())));
    labels.push_back(batch.labels());
  }
  e.net->train();
  tg::save_safetensors({{"logits", tg::cat(logits)}, {"labels", tg::cat(labels)}}, path, {{"program", e.program}});
  fmt::print(stderr, "{}: logits of {} test images written to {}\n", e.program, test.size(), path);
}

// One line, redrawn in place while an epoch runs (common/progress.hpp: only on a terminal,
// fitted to its width); erased when the epoch is done, before its line goes to stdout.
void progress(int epoch, std::int64_t done, std::int64_t total, double seconds, double loss) {
  draw_progress({.label = fmt::format("epoch {}", epoch),
                 .done = done,
                 .total = total,
                 .rate = static_cast<double>(done) / std::max(seconds, 1e-9),
                 .unit = "img/s",
                 .eta = eta_seconds(done, total - done, seconds),
                 .loss = loss});
  if (done == total) clear_progress();
}

// The configuration as resolved (the recipe's defaults filled in, the data directory found)
// and the summary of the network on one image, on stdout before the first epoch line.
void print_setup(const Experiment& e, const TrainOptions& o, int ranks, const tg::FashionMNIST& train_set,
                 const tg::FashionMNIST& test_set) {
  // Computed first: its forward pass is the run's first, and an error in it leaves stdout empty.
  Tensor image = e.prepare(tg::zeros({1, 1, tg::FashionMNIST::kRows, tg::FashionMNIST::kCols}));
  const std::string table = tg::summary(*e.net, image).str();
  Settings settings{{"model", e.title}};
  settings.insert(settings.end(), e.settings.begin(), e.settings.end());
  settings.insert(
      settings.end(),
      {{"epochs", std::to_string(o.epochs)},
       {"batch size", ranks > 1 ? fmt::format("{} ({} per rank, {} ranks)", o.batch_size, o.batch_size / ranks, ranks)
                                : std::to_string(o.batch_size)},
       {"lr", fmt::format("{}", o.lr)},
       {"schedule", o.schedule == "cosine" ? fmt::format("cosine over {} epochs", o.epochs) : o.schedule},
       {"seed", std::to_string(o.seed)},
       {"threads", std::to_string(tg::get_num_threads())},
       {"data",
        fmt::format("{} ({} training images, {} test images)", train_set.root(), train_set.size(), test_set.size())}});
  print_configuration(e.program, settings);
  fmt::print("\n{}\n", table);
  std::fflush(stdout);
}

}  // namespace

void train(Experiment& e, const TrainOptions& options) {
  // On --resume, the settings not passed are the checkpoint's (and those passed are checked).
  TrainOptions o = options;
  if (!o.resume.empty()) {
    resolve_resume_config(e.program, o, tg::load_safetensors_metadata(o.resume));
    e.optimizer->set_lr(o.lr);  // the base lr the schedule starts from
  }
  Ranks ranks;
#ifdef TAPEGRAD_HAS_DIST
  // Data-parallel: MPI for the whole run. An error that leaves train() on one rank ends the
  // job (Environment's destructor aborts during unwinding), so no rank waits for it.
  std::optional<tg::dist::Environment> env;
  if (o.distributed) {
    env.emplace();
    ranks = {tg::dist::rank(), tg::dist::world_size()};
  }
#else
  if (o.distributed)
    tg::fail<tg::ValueError>(
        "--distributed needs tapegrad::dist, which this build does not have (no MPI was found when it was "
        "configured); install libopenmpi-dev and openmpi-bin and configure again");
#endif
  const bool lead = ranks.rank == 0;  // prints, and writes files
  if (o.batch_size % ranks.size != 0)
    tg::fail<tg::ValueError>(
        "--batch-size {} is the global batch and must split evenly over the {} ranks; pass "
        "a multiple of {}",
        o.batch_size, ranks.size, ranks.size);
  const std::int64_t rank_batch = o.batch_size / ranks.size;
  if (o.epochs == 0 && !o.out.empty())
    tg::fail<tg::ValueError>("--out draws the training curves, and --epochs 0 trains none; pass --epochs 1 or more");
  if (o.threads > 0) tg::set_num_threads(o.threads);
  // On stderr, so that stdout keeps one line per epoch.
  if (lead) fmt::print(stderr, "{}: {}\n", e.program, tg::cpu_summary());
  if (lead && ranks.size > 1)
    fmt::print(stderr, "{}: data-parallel over {} ranks, {} images per rank per step, {} thread{} per rank\n",
               e.program, ranks.size, rank_batch, tg::get_num_threads(), tg::get_num_threads() == 1 ? "" : "s");
  tg::FashionMNIST train_set(o.data, /*train=*/true), test_set(o.data, /*train=*/false);
  if (o.limit > 0) train_set = train_set.subset(o.limit);
  if (o.test_limit > 0) test_set = test_set.subset(o.test_limit);
  if (lead) print_setup(e, o, ranks.size, train_set, test_set);

  // Made before a resume loads the optimizer's state, so that its base lr is --lr's; it then
  // catches up with the epochs already trained.
  std::unique_ptr<tg::LRScheduler> scheduler;
  if (o.schedule == "cosine") scheduler = std::make_unique<tg::CosineAnnealingLR>(*e.optimizer, o.epochs);
  int first_epoch = 1;
  if (!o.init.empty()) load_init(o.init, *e.net);
  if (!o.resume.empty()) {
    first_epoch = load_checkpoint(e.program, o.resume, *e.net, *e.optimizer) + 1;
    e.optimizer->set_lr(o.lr);  // the checkpoint's, or --override-config's (fine-tuning)
  }
  if (scheduler)
    for (int done = 1; done < first_epoch; ++done) scheduler->step();
  // The network that training calls: the model itself, or DDP around it (which first copies
  // rank 0's parameters and buffers to every rank).
  tg::Module* model = e.net.get();
#ifdef TAPEGRAD_HAS_DIST
  std::unique_ptr<tg::dist::DistributedDataParallel> ddp;
  if (o.distributed) {
    ddp = std::make_unique<tg::dist::DistributedDataParallel>(e.net);
    model = ddp.get();
  }
#endif

  std::optional<std::string> metrics;  // the CSV's text, rewritten whole after every epoch
  if (!o.metrics.empty() && lead)
    metrics = open_metrics(o.metrics, "epoch,loss,train_acc,test_acc,img_per_s", first_epoch > 1 ? first_epoch : 0);
  History history;
  Tensor confusion;
  for (int epoch = first_epoch; epoch <= o.epochs; ++epoch) {
    tg::DataLoader loader(train_set, rank_batch, /*shuffle=*/true, o.seed);
    loader.set_epoch(static_cast<std::uint64_t>(epoch));  // epoch E's order, also after --resume
    loader.set_shard(ranks.rank, ranks.size);             // this rank's share of it
    auto start = std::chrono::steady_clock::now();
    double loss_sum = 0;
    std::int64_t seen = 0, hits = 0;
    for (const auto& batch : loader) {
      const bool draw = lead && !o.graph.empty() && epoch == first_epoch && seen == 0;
      std::optional<tg::TapeNotes> notes;  // constants (the images, labels) for the graph
      if (draw) notes.emplace();
      std::unique_ptr<tg::TapeRecorder> recorder;  // --html: the first step, for the tape explorer
      if (lead && !o.html.empty() && epoch == first_epoch && seen == 0) {
        recorder = std::make_unique<tg::TapeRecorder>(e.net->named_parameters());
        recorder->name(batch.images(), "images").name(batch.labels(), "labels");
      }
      Tensor logits = (*model)(e.prepare(batch.images()));
      Tensor loss = tg::cross_entropy(logits, batch.labels());
      if (draw) {
        tg::viz::write_graph(o.graph, tg::to_dot(loss, e.net->named_parameters()));
        fmt::print(stderr, "{}: graph of the first step written to {}\n", e.program, o.graph);
      }
      e.optimizer->zero_grad();
      loss.backward();
      if (recorder) {
        recorder->stop();
        recorder->write_html(o.html, fmt::format("{}: the first training step", e.title));
        fmt::print(stderr, "{}: tape explorer of the first step written to {}\n", e.program, o.html);
        recorder.reset();
      }
      e.optimizer->step();
      std::int64_t n = batch.images().size(0);
      loss_sum += loss.item<double>() * static_cast<double>(n);
      hits += correct(logits.detach(), batch.labels());
      seen += n;
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      // (Rank 0's own loss and count, scaled: the bar is a guide; the epoch line is exact.)
      if (lead)
        progress(epoch, seen * ranks.size, static_cast<std::int64_t>(loader.num_samples()) * ranks.size, seconds,
                 loss_sum / static_cast<double>(seen));
    }
    // The epoch over every rank's shard.
    loss_sum = ranks.sum(loss_sum);
    hits = ranks.sum(hits);
    seen = ranks.sum(seen);
    if (scheduler) scheduler->step();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double train_loss = loss_sum / static_cast<double>(seen);
    double train_acc = static_cast<double>(hits) / static_cast<double>(seen);
    // Note: evaluation uses the training batch size; lenet's batches of 1024 doubled the
    // resident set (their activations and the buffers cached for them stay around).
    if (!o.out.empty()) confusion = tg::zeros({tg::FashionMNIST::kClasses, tg::FashionMNIST::kClasses});
    double test_acc = evaluate(e, test_set, o.batch_size, o.out.empty() ? nullptr : &confusion, ranks);
    double img_per_s = static_cast<double>(seen) / seconds;
    if (!lead) continue;
    fmt::print("epoch {} loss {:.4f} train_acc {:.4f} test_acc {:.4f} img_per_s {:.0f}\n", epoch, train_loss, train_acc,
               test_acc, img_per_s);
    std::fflush(stdout);
    if (metrics) {
      *metrics += fmt::format("{},{:.6f},{:.6f},{:.6f},{:.1f}\n", epoch, train_loss, train_acc, test_acc, img_per_s);
      write_metrics(o.metrics, *metrics);
    }
    if (!o.save.empty()) save_checkpoint(e.program, o.save, *e.net, *e.optimizer, epoch, checkpoint_config(o));
    history.epoch.push_back(epoch);
    history.loss.push_back(train_loss);
    history.train_acc.push_back(train_acc);
    history.test_acc.push_back(test_acc);
  }
  if (o.epochs == 0) {  // evaluate only
    double test_acc = evaluate(e, test_set, o.batch_size, nullptr, ranks);
    auto hits = static_cast<std::int64_t>(std::llround(test_acc * static_cast<double>(test_set.size())));
    if (lead) fmt::print("test_acc {:.4f} correct {}/{}\n", test_acc, hits, test_set.size());
  }
  if (!o.logits.empty() && lead) write_logits(e, test_set, o.batch_size, o.logits);
  if (!o.out.empty() && lead) {
    std::vector<std::string> files =
        write_pictures(e.program, o.out, e.title, history, confusion, e.first_conv->weight.detach());
    // On stderr, so that stdout keeps one line per epoch.
    fmt::print(stderr, "{}: wrote {} to {}\n", e.program, fmt::join(files, ", "), o.out);
  }
}

}  // namespace examples
