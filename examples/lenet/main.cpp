// LeNet on Fashion-MNIST, as in the "Convolutional Neural Networks (LeNet)" chapter.
//   --recipe classic: the book's network (sigmoid, average pooling, Xavier init), SGD lr 0.9
//   --recipe modern:  ReLU, max pooling and BatchNorm after each conv and hidden linear, Adam
// With --out DIR it draws the training curves, the test confusion matrix and conv1's filters.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>

#include <fmt/core.h>
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "lenet/models.hpp"
#include "lenet/pictures.hpp"
#include "tapegrad/tapegrad.hpp"

namespace {

using tg::Tensor;

struct Options {
  std::string recipe = "classic";
  int epochs = 10;
  std::int64_t batch_size = 0;  // 0: the recipe's
  double lr = 0;                // 0: the recipe's
  std::uint64_t seed = 0;
  int threads = 0;  // 0: one per core
  std::string data;
  std::int64_t limit = 0, test_limit = 0;
  std::string metrics, save, resume, out, graph;
};

// A checkpoint is two safetensors files: the model's state_dict under PyTorch's names
// (PATH), with the finished epoch in its metadata, and the optimizer's state (PATH.optim).
void save_checkpoint(const std::string& path, const tg::Module& net, const tg::Optimizer& optimizer, int epoch) {
  tg::save_optimizer(optimizer, path + ".optim");
  tg::save_safetensors(net.state_dict(), path, {{"epoch", std::to_string(epoch)}});
}

int load_checkpoint(const std::string& path, tg::Module& net, tg::Optimizer& optimizer) {
  auto metadata = tg::load_safetensors_metadata(path);
  if (!metadata.count("epoch"))
    tg::fail<tg::IoError>("lenet: {} has no 'epoch' in its metadata; it was not written by lenet --save", path);
  tg::load_module(net, path);
  tg::load_optimizer(optimizer, path + ".optim");
  return std::stoi(metadata.at("epoch"));
}

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

// Test accuracy; with `confusion` ([10, 10] zeros), also counts[label, predicted].
double evaluate(tg::Sequential& net, const tg::FashionMNIST& test, std::int64_t batch_size,
                Tensor* confusion = nullptr) {
  tg::NoGradGuard no_grad;
  net.eval();
  std::int64_t hits = 0;
  for (const auto& batch : tg::DataLoader(test, batch_size, /*shuffle=*/false))
    hits += correct(net(batch.images()), batch.labels(), confusion);
  net.train();
  return static_cast<double>(hits) / static_cast<double>(test.size());
}

// One line, redrawn in place while an epoch runs (only on a terminal).
void progress(int epoch, std::int64_t done, std::int64_t total, double seconds, double loss) {
  if (!::isatty(STDERR_FILENO)) return;
  int width = 30, filled = static_cast<int>(width * done / std::max<std::int64_t>(total, 1));
  fmt::print(stderr, "\repoch {} [{}{}] {}/{} images  {:.0f} img/s  loss {:.4f}", epoch, std::string(filled, '='),
             std::string(width - filled, ' '), done, total, static_cast<double>(done) / seconds, loss);
  if (done == total) fmt::print(stderr, "\r{}\r", std::string(100, ' '));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Train LeNet on Fashion-MNIST with tapegrad"};
  app.add_option("--recipe", o.recipe, "classic (the book's) or modern")->check(CLI::IsMember({"classic", "modern"}));
  app.add_option("--epochs", o.epochs, "epochs to train")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", o.batch_size, "batch size (default: 256 classic, 128 modern)")
      ->check(CLI::PositiveNumber);
  app.add_option("--lr", o.lr, "learning rate (default: 0.9 classic, 1e-3 modern)")->check(CLI::PositiveNumber);
  app.add_option("--seed", o.seed, "seed for initialisation and shuffling");
  // Note: results depend on the thread count only through the order of sums (see
  // docs/performance.md); a run is reproducible for a given count.
  app.add_option("--threads", o.threads, "threads to use (default: one per core)")->check(CLI::NonNegativeNumber);
  app.add_option("--data", o.data, "directory with the Fashion-MNIST .gz files");
  app.add_option("--limit", o.limit, "train on the first N images only")->check(CLI::NonNegativeNumber);
  app.add_option("--test-limit", o.test_limit, "evaluate on the first N test images only")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--metrics", o.metrics, "write a CSV row per epoch");
  app.add_option("--save", o.save, "save a checkpoint (safetensors) after every epoch");
  app.add_option("--resume", o.resume, "resume from a checkpoint written by --save");
  app.add_option("--out", o.out,
                 "write pictures into this directory (created if needed): loss.svg, accuracy.svg (the epochs this "
                 "run trained), confusion.svg and confusion.png (the test set after the last epoch), "
                 "conv1_filters.png");
  app.add_option("--graph", o.graph,
                 "write the graph of the first training step's loss: FILE.dot (Graphviz source) or FILE.svg "
                 "(rendered with Graphviz's dot, Debian's graphviz package)");
  CLI11_PARSE(app, argc, argv);
  bool classic = o.recipe == "classic";
  if (o.batch_size == 0) o.batch_size = classic ? 256 : 128;
  if (o.lr == 0) o.lr = classic ? 0.9 : 1e-3;

  try {
    if (o.threads > 0) tg::set_num_threads(o.threads);
    tg::FashionMNIST train(o.data, /*train=*/true), test(o.data, /*train=*/false);
    if (o.limit > 0) train = train.subset(o.limit);
    if (o.test_limit > 0) test = test.subset(o.test_limit);
    tg::Generator gen(o.seed);
    auto net = classic ? lenet::classic_lenet(gen) : lenet::modern_lenet(gen);
    std::unique_ptr<tg::Optimizer> optimizer;
    if (classic)
      optimizer = std::make_unique<tg::SGD>(net->parameters(), o.lr);
    else
      optimizer = std::make_unique<tg::Adam>(net->parameters(), o.lr);

    int first_epoch = 1;
    if (!o.resume.empty()) first_epoch = load_checkpoint(o.resume, *net, *optimizer) + 1;

    std::unique_ptr<std::ofstream> metrics;
    if (!o.metrics.empty()) {
      metrics = std::make_unique<std::ofstream>(o.metrics, first_epoch == 1 ? std::ios::trunc : std::ios::app);
      if (first_epoch == 1) *metrics << "epoch,loss,train_acc,test_acc,img_per_s\n";
    }
    lenet::History history;
    Tensor confusion;
    for (int epoch = first_epoch; epoch <= o.epochs; ++epoch) {
      tg::DataLoader loader(train, o.batch_size, /*shuffle=*/true, o.seed);
      loader.set_epoch(static_cast<std::uint64_t>(epoch));  // epoch E's order, also after --resume
      auto start = std::chrono::steady_clock::now();
      double loss_sum = 0;
      std::int64_t seen = 0, hits = 0;
      for (const auto& batch : loader) {
        const bool draw = !o.graph.empty() && epoch == first_epoch && seen == 0;
        std::optional<tg::TapeNotes> notes;  // constants (the images, labels) for the graph
        if (draw) notes.emplace();
        Tensor logits = (*net)(batch.images());
        Tensor loss = tg::cross_entropy(logits, batch.labels());
        if (draw) {
          tg::viz::write_graph(o.graph, tg::to_dot(loss, net->named_parameters()));
          fmt::print(stderr, "lenet: graph of the first step written to {}\n", o.graph);
        }
        optimizer->zero_grad();
        loss.backward();
        optimizer->step();
        std::int64_t n = batch.images().size(0);
        loss_sum += loss.item<double>() * static_cast<double>(n);
        hits += correct(logits.detach(), batch.labels());
        seen += n;
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        progress(epoch, seen, static_cast<std::int64_t>(train.size()), seconds, loss_sum / static_cast<double>(seen));
      }
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      double train_loss = loss_sum / static_cast<double>(seen);
      double train_acc = static_cast<double>(hits) / static_cast<double>(seen);
      // Note: evaluation uses the training batch size; batches of 1024 doubled the resident set
      // (their activations and the buffers cached for them stay around), 189 MB instead of 92.
      if (!o.out.empty()) confusion = tg::zeros({tg::FashionMNIST::kClasses, tg::FashionMNIST::kClasses});
      double test_acc = evaluate(*net, test, o.batch_size, o.out.empty() ? nullptr : &confusion);
      double img_per_s = static_cast<double>(seen) / seconds;
      fmt::print("epoch {} loss {:.4f} train_acc {:.4f} test_acc {:.4f} img_per_s {:.0f}\n", epoch, train_loss,
                 train_acc, test_acc, img_per_s);
      std::fflush(stdout);
      if (metrics)
        *metrics << fmt::format("{},{:.6f},{:.6f},{:.6f},{:.1f}\n", epoch, train_loss, train_acc, test_acc, img_per_s);
      if (!o.save.empty()) save_checkpoint(o.save, *net, *optimizer, epoch);
      history.epoch.push_back(epoch);
      history.loss.push_back(train_loss);
      history.train_acc.push_back(train_acc);
      history.test_acc.push_back(test_acc);
    }
    if (!o.out.empty()) {
      auto conv1 = std::dynamic_pointer_cast<tg::Conv2D>((*net)[0]);
      std::vector<std::string> files =
          lenet::write_pictures(o.out, o.recipe, history, confusion, conv1->weight.detach());
      // On stderr, so that stdout keeps one line per epoch.
      fmt::print(stderr, "lenet: wrote {} to {}\n", fmt::join(files, ", "), o.out);
    }
  } catch (const tg::Error& e) {
    fmt::print(stderr, "lenet: {}\n", e.what());
    return 1;
  }
  return 0;
}
