// The seed experiment, step by step as in the "2-D convolution" notebook:
//   1. corr2d on a 3x3 input and a 2x2 kernel,
//   2. an edge detector: the kernel [[1, -1]] finds the vertical edges of an image,
//   3. learning that kernel back from (X, Y) with a Conv2D layer and plain SGD.
#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "tapegrad/tapegrad.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Learn an edge-detection kernel with tapegrad (the seed experiment)"};
  int steps = 60;
  double lr = 0.01;
  std::uint64_t seed = 0;
  std::string metrics_path;
  int threads = 1;
  app.add_option("--steps", steps, "SGD steps; 20 is one run of the notebook's cell")->check(CLI::NonNegativeNumber);
  app.add_option("--lr", lr, "learning rate")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed of the generator that initialises the layer");
  app.add_option("--metrics", metrics_path, "write the loss per step and the learned weight and bias as JSON");
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
    std::vector<double> losses;
    for (int i = 0; i < steps; ++i) {
      tg::Tensor Y_hat = conv2d(X);
      tg::Tensor l = (Y_hat - Y).square().sum();
      optimizer.zero_grad();
      l.backward();
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
  } catch (const tg::Error& e) {
    fmt::print(stderr, "edge_detection: {}\n", e.what());
    return 1;
  }
  return 0;
}
