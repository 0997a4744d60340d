// The seed experiment, step by step as in the "2-D convolution" notebook:
//   1. corr2d on a 3x3 input and a 2x2 kernel,
//   2. an edge detector: the kernel [[1, -1]] finds the vertical edges of an image,
//   3. learning that kernel back from (X, Y) with a Conv2D layer and plain SGD.
// With --out DIR it also draws them: the image, the true and predicted edge maps, the learned
// kernel and the loss curve. --inspect, --trace and --graph look inside the first SGD step
// (docs/walkthrough.md follows them).
#include <algorithm>
#include <cmath>
#include <filesystem>

#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "tapegrad/tapegrad.hpp"
#include "tapegrad/viz.hpp"

namespace {

// Writes the pictures of the experiment into `dir`, creating it if needed: the 6x8 input, the
// true edge map, the prediction before the first and after the last SGD step, the learned
// kernel, and the loss per step (when there was a step).
void write_pictures(const std::string& dir, const tg::Tensor& X, const tg::Tensor& Y, const tg::Tensor& Y_hat_start,
                    const tg::Tensor& Y_hat_end, const tg::Tensor& kernel, const std::vector<double>& losses) {
  const std::filesystem::path out = tg::viz::output_dir("edge_detection --out", dir);
  auto file = [&](const char* name) { return (out / name).string(); };
  using tg::viz::Colormap;
  tg::viz::write_png(file("X.png"), X, {.scale = 40, .min = 0.0, .max = 1.0});
  // Note: the three edge maps share one symmetric range [-m, m], m the largest |value| in any
  // of them, so equal colours mean equal values across the pictures. Clamping to Y's own
  // [-1, 1] would draw Y at full strength but flatten the random start, whose values reach
  // past 1, into one red.
  double m = 0;
  for (const tg::Tensor& map : {Y, Y_hat_start, Y_hat_end})
    for (double v : map.tolist()) m = std::max(m, std::abs(v));
  tg::viz::PngOptions edges{.scale = 40, .min = -m, .max = m, .colormap = Colormap::diverging};
  tg::viz::write_png(file("Y.png"), Y, edges);
  tg::viz::write_png(file("Y_hat_start.png"), Y_hat_start, edges);
  tg::viz::write_png(file("Y_hat_end.png"), Y_hat_end, edges);
  tg::viz::write_png(file("kernel.png"), kernel, {.scale = 80, .colormap = Colormap::diverging});
  if (!losses.empty()) {
    tg::viz::LinePlot plot{.title = "edge_detection: loss per SGD step",
                           .x_label = "step",
                           .y_label = "loss (sum of squared errors)",
                           .log_y = true};
    plot.add("loss", losses).write(file("loss.svg"));
  }
}

// --inspect, during the first step. Before backward(): the tape the forward pass recorded,
// and each parameter's gradient split into the paths it comes along.
void print_tape_and_paths(const tg::Tensor& loss, const tg::Conv2D& conv2d) {
  fmt::print("--- step 1: the tape after the forward pass ---\n{}\n", tg::Tape::current());
  fmt::print("--- step 1: the paths from the loss to each parameter ---\n");
  for (const auto& [name, parameter] : conv2d.named_parameters()) {
    std::vector<tg::GradientPath> paths = tg::gradient_paths(loss, parameter);
    fmt::print("{}: {} path{}\n", name, paths.size(), paths.size() == 1 ? "" : "s");
    for (const tg::GradientPath& path : paths) fmt::print("  {}\n", tg::to_string(path));
  }
  fmt::print("\n");
}

// --inspect, after the first backward(): the gradients checked by hand against the corr2d
// derivation (docs/autograd.md, section 5). With E = Y_hat - Y and loss = sum(E^2),
// dloss/dY_hat = 2 E, so dK = corr2d(X, 2 E) and db = sum(2 E). Returns whether they match.
bool check_by_hand(const tg::Tensor& X, const tg::Tensor& Y, const tg::Tensor& Y_hat, const tg::Conv2D& conv2d) {
  tg::NoGradGuard no_grad;
  tg::Tensor E2 = (Y_hat.detach() - Y) * 2;
  tg::Tensor dK = tg::corr2d(X, E2);
  tg::Tensor db = E2.sum().reshape({1});
  double worst = 0;
  for (const auto& [by_hand, by_tape] : {std::pair{dK, conv2d.weight.grad()}, std::pair{db, conv2d.bias.grad()}})
    for (double d : (by_hand - by_tape).tolist()) worst = std::max(worst, std::abs(d));
  fmt::print("--- step 1: the gradients checked by hand ---\n");
  fmt::print("Y_hat = {}\n2 (Y_hat - Y) = {}\n", Y_hat.detach(), E2);
  fmt::print("corr2d(X, 2 (Y_hat - Y)) = {}\nweight.grad              = {}\n", dK, conv2d.weight.grad());
  fmt::print("sum(2 (Y_hat - Y))       = {}\nbias.grad                = {}\n", db, conv2d.bias.grad());
  fmt::print("largest difference: {:.3g}\n\n", worst);
  return worst <= 1e-5;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Learn an edge-detection kernel with tapegrad (the seed experiment)"};
  int steps = 60;
  double lr = 0.01;
  std::uint64_t seed = 0;
  std::string metrics_path, out_dir, trace_path, graph_path;
  bool inspect = false;
  int threads = 1;
  app.add_option("--steps", steps, "SGD steps; 20 is one run of the notebook's cell")->check(CLI::NonNegativeNumber);
  app.add_option("--lr", lr, "learning rate")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed of the generator that initialises the layer");
  app.add_option("--metrics", metrics_path, "write the loss per step and the learned weight and bias as JSON");
  app.add_option("--out", out_dir,
                 "write pictures into this directory (created if needed): X.png, Y.png, Y_hat_start.png, "
                 "Y_hat_end.png, kernel.png and, after at least one step, loss.svg");
  app.add_flag("--inspect", inspect,
               "during the first step, print the tape, the gradient paths to each parameter, and the gradients "
               "checked by hand against corr2d(X, 2 (Y_hat - Y))");
  app.add_option("--trace", trace_path, "write what the first step's backward() computed as JSON");
  app.add_option("--graph", graph_path,
                 "write the graph of the first step's loss: FILE.dot (Graphviz source) or FILE.svg (rendered with "
                 "Graphviz's dot, Debian's graphviz package)");
  // Note: a 6x8 image is far too small to share between threads; the flag is here for
  // uniformity with the other examples.
  app.add_option("--threads", threads, "threads to use")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    tg::set_num_threads(threads);
    // 1. Cross-correlation of a 3x3 input with a 2x2 kernel.
    tg::Tensor X0{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}};
    tg::Tensor K0{{0, 1}, {2, 3}};
    fmt::print("{}\n\n", tg::corr2d(X0, K0));

    // 2. A 6x8 image, white (1) with a black (0) band in columns 2..5, and the kernel
    //    [[1, -1]]: Y is 1 at the white-to-black edge, -1 at black-to-white, 0 elsewhere.
    tg::Tensor X = tg::ones({6, 8});
    X.index_put_({tg::Slice(), tg::Slice(2, 6)}, 0);  // X[:, 2:6] = 0
    fmt::print("{}\n\n", X);
    tg::Tensor K{{1.0, -1.0}};
    fmt::print("{}\n\n", K);
    tg::Tensor Y = tg::corr2d(X, K);
    fmt::print("{}\n\n", Y);

    // 3. Learn K back from (X, Y).
    tg::Generator gen(seed);
    tg::Conv2D conv2d({1, 2}, gen);
    tg::SGD optimizer(conv2d.parameters(), lr);
    tg::Tensor Y_hat_start;
    if (!out_dir.empty()) {
      tg::NoGradGuard no_grad;
      Y_hat_start = conv2d(X);
    }
    std::vector<double> losses;
    for (int i = 0; i < steps; ++i) {
      const bool first = i == 0;
      // Looking inside step 1: notes keep the constants (X, Y) and module paths for printing.
      std::optional<tg::TapeNotes> notes;
      if (first && (inspect || !graph_path.empty())) notes.emplace();
      tg::Tensor Y_hat = conv2d(X);
      tg::Tensor l = (Y_hat - Y).square().sum();
      if (first && inspect) print_tape_and_paths(l, conv2d);
      if (first && !graph_path.empty()) {
        tg::viz::write_graph(graph_path, tg::to_dot(l, conv2d.named_parameters()));
        fmt::print(stderr, "edge_detection: graph of the first step written to {}\n", graph_path);
      }
      optimizer.zero_grad();
      if (first && !trace_path.empty()) {
        tg::BackwardTrace trace;
        {
          tg::ObserveTape watch(trace);
          l.backward();
        }
        tg::write_file_atomic(trace_path, trace.to_json() + "\n");
        fmt::print(stderr, "edge_detection: backward trace of the first step written to {}\n", trace_path);
      } else {
        l.backward();
      }
      if (first && inspect && !check_by_hand(X, Y, Y_hat, conv2d))
        tg::fail<tg::AutogradError>(
            "edge_detection: the weight or bias gradient differs from the corr2d derivation by more than 1e-5; "
            "run the tests (ctest) to find the op whose backward is wrong");
      optimizer.step();
      losses.push_back(l.item<double>());
      fmt::print("step{}, loss{:.4f}\n", i + 1, losses.back());
    }
    fmt::print("\nweight: {}\nbias: {}\n", conv2d.weight.detach(), conv2d.bias.detach());

    if (!metrics_path.empty()) {
      nlohmann::json metrics = {{"seed", seed},
                                {"lr", lr},
                                {"steps", steps},
                                {"loss", losses},
                                {"weight", conv2d.weight.tolist()},
                                {"bias", conv2d.bias.item<double>()}};
      tg::write_file_atomic(metrics_path, metrics.dump(2) + "\n");
    }
    if (!out_dir.empty()) {
      tg::NoGradGuard no_grad;
      write_pictures(out_dir, X, Y, Y_hat_start, conv2d(X), conv2d.weight.detach(), losses);
      // On stderr, so that stdout stays the notebook's output.
      fmt::print(stderr, "edge_detection: pictures written to {}\n", out_dir);
    }
  } catch (const tg::Error& e) {
    fmt::print(stderr, "edge_detection: {}\n", e.what());
    return 1;
  }
  return 0;
}
