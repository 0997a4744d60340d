// SPDX-License-Identifier: MIT
// The seed experiment, step by step as in the "2-D convolution" notebook:
//   1. corr2d on a 3x3 input and a 2x2 kernel,
//   2. an edge detector: the kernel [[1, -1]] finds the vertical edges of an image,
//   3. learning that kernel back from (X, Y) with a Conv2D layer and plain SGD.
// With --out DIR it also draws them: the image, the true and predicted edge maps, the learned
// kernel and the loss curve. --inspect, --trace, --graph and --html (the tape explorer, a page
// to step through in a browser) look inside the first SGD step (docs/walkthrough.md follows them).
#include <algorithm>
#include <cmath>
#include <filesystem>

#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/cli.hpp"
#include "tapegrad/layers/summary.hpp"
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

// ---- --newton: the seed solved in one step ----
//
// The loss is quadratic in theta = (K[0, 0], K[0, 1], b): with P_ij = [X[i, j], X[i, j + 1], 1],
// the patch of X under output (i, j) and a 1 for the bias,
//   L(theta) = sum_ij (P_ij . theta - Y[i, j])^2,   g = 2 P^T (P theta - Y),   H = 2 P^T P,
// so one Newton step theta - H^-1 g lands on the minimum, K = [1, -1], b = 0. The tape
// computes H by double backward: the gradient with create_graph (a graph of its own), then one
// backward of that gradient per parameter element.

// 2 P^T P, the closed form, in float64.
tg::Tensor hessian_closed_form(const tg::Tensor& X) {
  const std::int64_t h = X.shape()[0], w = X.shape()[1];
  tg::Tensor H = tg::zeros({3, 3}, {.dtype = tg::kFloat64});
  for (std::int64_t i = 0; i < h; ++i)
    for (std::int64_t j = 0; j + 1 < w; ++j) {
      const double p[3] = {X.at<float>({i, j}), X.at<float>({i, j + 1}), 1.0};
      for (std::int64_t a = 0; a < 3; ++a)
        for (std::int64_t b = 0; b < 3; ++b) H.at<double>({a, b}) += 2 * p[a] * p[b];
    }
  return H;
}

// x with H x = g, by Gaussian elimination with partial pivoting (H is 3x3 and positive definite).
std::vector<double> solve(std::vector<std::vector<double>> H, std::vector<double> g) {
  const std::size_t n = g.size();
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t pivot = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(H[r][c]) > std::abs(H[pivot][c])) pivot = r;
    if (std::abs(H[pivot][c]) < 1e-12)
      tg::fail<tg::ValueError>(
          "edge_detection --newton: the Hessian is singular; the input patches do not span "
          "(K, b), so the minimum is not unique");
    std::swap(H[c], H[pivot]);
    std::swap(g[c], g[pivot]);
    for (std::size_t r = c + 1; r < n; ++r) {
      const double f = H[r][c] / H[c][c];
      for (std::size_t k = c; k < n; ++k) H[r][k] -= f * H[c][k];
      g[r] -= f * g[c];
    }
  }
  std::vector<double> x(n);
  for (std::size_t r = n; r-- > 0;) {
    double v = g[r];
    for (std::size_t k = r + 1; k < n; ++k) v -= H[r][k] * x[k];
    x[r] = v / H[r][r];
  }
  return x;
}

struct NewtonStep {
  double loss_before = 0, loss_after = 0;
  tg::Tensor hessian, closed_form;
};

// One Newton step on the layer's weight and bias, the Hessian by double backward. --inspect
// prints the tape once the recording backward has run (its entries marked), --graph draws the
// gradient's graph, --trace records the second backward (of the Hessian's first row).
NewtonStep newton_step(const tg::Tensor& X, const tg::Tensor& Y, tg::Conv2D& conv2d, bool inspect,
                       const std::string& graph_path, const std::string& trace_path) {
  std::optional<tg::TapeNotes> notes;
  if (inspect || !graph_path.empty()) notes.emplace();
  NewtonStep r;
  tg::Tensor loss = (conv2d(X) - Y).square().sum();
  r.loss_before = loss.item<double>();
  const std::vector<tg::Tensor> theta = {conv2d.weight, conv2d.bias};
  std::vector<tg::Tensor> g = tg::grad({loss}, theta, {.create_graph = true});
  tg::Tensor flat = tg::cat({g[0].reshape({-1}), g[1].reshape({-1})});  // dL/dtheta, a tensor of the new graph
  if (inspect) fmt::print("--- the tape after the recording backward (create_graph) ---\n{}\n", tg::Tape::current());
  if (!graph_path.empty()) {
    tg::viz::write_graph(graph_path, tg::to_dot(flat, conv2d.named_parameters()));
    fmt::print(stderr, "edge_detection: graph of the gradient written to {}\n", graph_path);
  }
  const std::int64_t n = flat.numel();
  std::vector<std::vector<double>> H(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {  // row i of H: the gradient of dL/dtheta_i
    tg::Tensor e = tg::zeros({n});
    e.at<float>({i}) = 1;
    std::optional<tg::BackwardTrace> trace;
    std::optional<tg::ObserveTape> watch;
    if (i == 0 && !trace_path.empty()) {
      trace.emplace();
      watch.emplace(*trace);
    }
    std::vector<tg::Tensor> row = tg::grad({flat}, theta, {.grad_outputs = {e}, .retain_graph = true});
    watch.reset();
    if (trace) {
      tg::write_file_atomic(trace_path, trace->to_json() + "\n");
      fmt::print(stderr, "edge_detection: backward trace of the Hessian's first row written to {}\n", trace_path);
    }
    for (const tg::Tensor& part : row)
      for (double v : part.tolist()) H[static_cast<std::size_t>(i)].push_back(v);
  }
  r.hessian = tg::zeros({n, n}, {.dtype = tg::kFloat64});
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      r.hessian.at<double>({i, j}) = H[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)];
  r.closed_form = hessian_closed_form(X);
  std::vector<double> step = solve(H, flat.detach().tolist());
  {
    tg::NoGradGuard no_grad;
    for (std::int64_t k = 0; k < 2; ++k) conv2d.weight.at<float>({0, k}) -= static_cast<float>(step[k]);
    conv2d.bias.at<float>({0}) -= static_cast<float>(step[2]);
    r.loss_after = (conv2d(X) - Y).square().sum().item<double>();
  }
  return r;
}

// --summary: the layer of step 3, made as step 3 makes it, on an image of the same 6x8 shape.
void print_summary(std::uint64_t seed) {
  tg::Generator gen(seed);
  tg::Conv2D conv2d({1, 2}, gen);
  fmt::print("{}\n", tg::summary(conv2d, tg::ones({6, 8})).str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Learn an edge-detection kernel with tapegrad (the seed experiment)"};
  examples::add_version_flag(app, "edge_detection");
  app.option_defaults()->always_capture_default();  // --help shows every default
  int steps = 60;
  double lr = 0.01;
  std::uint64_t seed = 0;
  std::string metrics_path, out_dir, trace_path, graph_path, html_path;
  bool inspect = false;
  int threads = 1;
  bool newton = false;
  bool summary = false;
  auto* steps_option = app.add_option("--steps", steps, "SGD steps; 20 is one run of the notebook's cell")
                           ->check(CLI::NonNegativeNumber);
  auto* lr_option = app.add_option("--lr", lr, "learning rate")->check(CLI::PositiveNumber);
  app.add_flag("--newton", newton,
               "instead of SGD, one Newton step with the exact Hessian, computed by double backward and printed next "
               "to its closed form 2 P^T P; the loss is quadratic, so it lands on K = [1, -1], b = 0")
      ->excludes(steps_option)
      ->excludes(lr_option);
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
  app.add_option("--html", html_path,
                 "write the tape explorer for the first step (with --newton: the Newton step, its double backward "
                 "included): one self-contained page that steps through forward and backward in a browser");
  // Note: a 6x8 image is far too small to share between threads; the flag is here for
  // uniformity with the other examples.
  app.add_option("--threads", threads, "threads to use")->check(CLI::PositiveNumber);
  app.add_flag("--summary", summary,
               "first print the summary of the layer step 3 trains (tg::summary on the 6x8 image: output shape, "
               "parameters); without it the output is exactly the notebook's");
  CLI11_PARSE(app, argc, argv);

  try {
    tg::set_num_threads(threads);
    // Checks TAPEGRAD_ISA (a bad value is an error here as in every program); nothing is
    // printed, so that the output stays what the notebook prints (corr2d on these small
    // images runs no kernel that depends on the level).
    tg::cpu_features();
    if (summary) print_summary(seed);
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
    nlohmann::json newton_metrics;
    // --html: the recorder keeps what the first step computes, for the page written after it.
    auto recorder = [&] {
      auto rec = std::make_unique<tg::TapeRecorder>(conv2d.named_parameters());
      rec->name(X, "X").name(Y, "Y");
      return rec;
    };
    auto write_page = [&](tg::TapeRecorder& rec, const char* what) {
      rec.stop();
      rec.write_html(html_path, fmt::format("edge_detection: {}", what));
      fmt::print(stderr, "edge_detection: tape explorer of {} written to {}\n", what, html_path);
    };
    if (newton) {
      std::unique_ptr<tg::TapeRecorder> rec;
      if (!html_path.empty()) rec = recorder();
      NewtonStep r = newton_step(X, Y, conv2d, inspect, graph_path, trace_path);
      if (rec) write_page(*rec, "the Newton step");
      fmt::print("Hessian of the loss in (weight[0, 0], weight[0, 1], bias), by double backward:\n{}\n\n", r.hessian);
      fmt::print("Hessian in closed form, 2 P^T P (P: the input patches, with a 1 for the bias):\n{}\n\n",
                 r.closed_form);
      double worst = 0;
      for (double d : (r.hessian - r.closed_form).tolist()) worst = std::max(worst, std::abs(d));
      fmt::print("largest difference: {:.3g}\n\n", worst);
      losses = {r.loss_before};
      fmt::print("step1, loss{:.4f}\n", r.loss_before);
      fmt::print("loss after one Newton step: {:.3g}\n", r.loss_after);
      auto rows = [](const tg::Tensor& m) {  // [[row 0], [row 1], [row 2]]
        std::vector<std::vector<double>> out;
        for (std::int64_t i = 0; i < m.shape()[0]; ++i) out.push_back(tg::select(m, 0, i).tolist());
        return out;
      };
      newton_metrics = {{"method", "newton"},
                        {"loss_after", r.loss_after},
                        {"hessian", rows(r.hessian)},
                        {"hessian_closed_form", rows(r.closed_form)}};
      steps = 0;  // no SGD steps
    }
    for (int i = 0; i < steps; ++i) {
      const bool first = i == 0;
      // Looking inside step 1: notes keep the constants (X, Y) and module paths for printing.
      std::optional<tg::TapeNotes> notes;
      if (first && (inspect || !graph_path.empty())) notes.emplace();
      std::unique_ptr<tg::TapeRecorder> rec;
      if (first && !html_path.empty()) rec = recorder();
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
      if (rec) write_page(*rec, "the first SGD step");
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
                                {"steps", newton ? 1 : steps},
                                {"loss", losses},
                                {"weight", conv2d.weight.tolist()},
                                {"bias", conv2d.bias.item<double>()}};
      if (newton)
        metrics.update(newton_metrics);
      else
        metrics["method"] = "sgd";
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
