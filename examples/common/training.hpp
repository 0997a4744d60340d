// SPDX-License-Identifier: MIT
#pragma once
// The training loop the image classifiers share (lenet, resnet): their common flags, the
// epoch loop with its progress bar and epoch line, metrics, checkpoints, the graph of the
// first step and the --out pictures. Each example builds its network and optimizer and
// hands them to train().
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "common/cli.hpp"
#include "tapegrad/tapegrad.hpp"

namespace examples {

// The flags every classifier takes. Zero means "the example's default" where noted.
struct TrainOptions {
  int epochs = 10;
  std::int64_t batch_size = 0;  // 0: the example's (or recipe's) default
  double lr = 0;                // 0: the example's (or recipe's) default
  std::uint64_t seed = 0;
  int threads = 0;  // 0: one per core
  std::string data;
  std::int64_t limit = 0, test_limit = 0;
  std::string metrics, save, resume, out, graph;
  std::string html;  // the tape explorer of the first training step
  // --init: initial weights (a state_dict under PyTorch's names, loaded strictly);
  // --logits: the test images' logits after the run, as safetensors.
  std::string init, logits;
  // The learning rate over the epochs: "constant", or "cosine" (torch.optim.lr_scheduler's
  // CosineAnnealingLR with T_max = epochs, stepped once per epoch: lr * (1 + cos(pi e / E)) / 2
  // in epoch e + 1). Set the example's default before add_training_options.
  std::string schedule = "constant";
  // Data-parallel over MPI (mpirun -np N ... --distributed): every rank trains on its shard of
  // each batch; batch_size stays the global batch, threads default to cores / ranks.
  bool distributed = false;
  // --resume with a value that differs from the checkpoint's: accept it (one stderr line each).
  bool override_config = false;
  // The flags of the settings a checkpoint records (by the metadata key), so that a resume can
  // tell a value the user gave from a default (CLI::Option::count). Set by add_training_options.
  std::map<std::string, const CLI::Option*> config_flags;
};

// Whether this build has tapegrad::dist (an MPI was found when it was configured).
bool distributed_available();
// The batch normalisation the models get: BatchNorm1D/2D, or SyncBatchNorm with --distributed
// (statistics over the global batch). dims: 1 for [N, C], 2 for [N, C, H, W].
std::shared_ptr<tg::Module> make_norm(const TrainOptions& options, std::int64_t channels, int dims);

// Adds the shared flags to `app`; `batch_help` and `lr_help` describe the defaults.
void add_training_options(CLI::App& app, TrainOptions& options, const std::string& batch_help,
                          const std::string& lr_help);

// What train() runs: the program's name (for messages), the model's title (for pictures),
// the network, its optimizer, and how a batch of images becomes the network's input (the
// identity, or a resize).
struct Experiment {
  std::string program;
  std::string title;
  std::shared_ptr<tg::Sequential> net;
  std::unique_ptr<tg::Optimizer> optimizer;
  std::function<tg::Tensor(const tg::Tensor&)> prepare = [](const tg::Tensor& images) { return images; };
  // The convolution whose filters --out draws ([O, 1, kh, kw] weight).
  std::shared_ptr<tg::Conv2D> first_conv;
  // The example's own flags (--recipe, --resize), printed first in the configuration.
  Settings settings;
};

// Loads Fashion-MNIST as the options say, prints the configuration and the model's summary
// (tg::summary of one image) on stdout, resumes when asked, trains epoch by epoch (one line
// per epoch on stdout: loss, train and test accuracy, images per second), writes metrics,
// checkpoints and pictures. Throws tg::Error on bad input.
void train(Experiment& experiment, const TrainOptions& options);

// A checkpoint is two safetensors files: the model's state_dict under PyTorch's names (PATH),
// and the optimizer's state in a companion PATH.optim.e<epoch>-<run id>. The companion is
// written first, then PATH (each atomically), whose metadata names the companion, the epoch,
// the run id and `config` (program, seed, batch size, lr, ...); then superseded companions go.
// PATH is the commit point: a kill at any instant leaves a PATH whose companion exists and
// belongs to it.
void save_checkpoint(const std::string& program, const std::string& path, const tg::Module& net,
                     const tg::Optimizer& optimizer, int epoch, const std::map<std::string, std::string>& config = {});
// Returns the finished epoch recorded in it. The companion's epoch and run id must match
// PATH's (an IoError naming both files otherwise). A checkpoint of the older layout (no
// companion named: PATH.optim) still loads.
int load_checkpoint(const std::string& program, const std::string& path, tg::Module& net, tg::Optimizer& optimizer);
// --init: loads a state_dict (tapegrad's --save, or PyTorch's, e.g. scripts/torch_lenet.py)
// into `net`, strictly: every name and shape must match.
void load_init(const std::string& path, tg::Module& net);

// The settings a checkpoint records, as strings: seed, batch_size, lr, schedule. (Not epochs:
// --epochs says how far a resumed run goes; with cosine it is also T_max, as it always was.)
std::map<std::string, std::string> checkpoint_config(const TrainOptions& options);
// On --resume: every setting the user did not pass takes the checkpoint's value (`saved`, its
// metadata); one passed and different is a ValueError listing each difference, unless
// --override-config (then one stderr line per override).
void resolve_resume_config(const std::string& program, TrainOptions& options,
                           const std::map<std::string, std::string>& saved);

}  // namespace examples
