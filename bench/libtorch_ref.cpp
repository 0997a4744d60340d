// SPDX-License-Identifier: MIT
// The two tape cases of tg_bench (bench_tape.cpp) in libtorch, PyTorch's C++ API, so that
// tapegrad's tape overhead is compared with PyTorch's without Python in the way.
// bench/compare_pytorch.py compiles and runs it (when libtorch-dev is installed):
//   libtorch_ref THREADS REPETITIONS [CASE...]
// prints {"tape/tiny_loop": [seconds per iteration, one per repetition], ...} as JSON.
// It is not part of the CMake build: tapegrad never depends on libtorch.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_for(const std::function<void()>& step, long inner) {
  auto start = Clock::now();
  for (long i = 0; i < inner; ++i) step();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One warm-up call, then as many calls per sample as make a sample last >= 0.25 s;
// returns the seconds per call of each sample (as compare_pytorch.py's measure()).
std::vector<double> measure(const std::function<void()>& step, int repetitions) {
  seconds_for(step, 1);
  long inner = 1;
  while (seconds_for(step, inner) < 0.25) inner *= 2;
  std::vector<double> samples;
  for (int r = 0; r < repetitions; ++r) samples.push_back(seconds_for(step, inner) / static_cast<double>(inner));
  return samples;
}

void clear_grad(torch::Tensor& t) { t.mutable_grad() = torch::Tensor(); }

// `(a * a + a).sum().backward()` on a 2x2 tensor, then `a.grad = None`.
std::function<void()> tiny_loop() {
  auto a = torch::randn({2, 2}, torch::requires_grad());
  return [a]() mutable {
    (a * a + a).sum().backward();
    clear_grad(a);
  };
}

// The seed experiment: a fresh Conv2d(1, 1, (1, 2)) and SGD (lr 0.01), 20 steps on X, Y.
std::function<void()> seed_20_steps() {
  using torch::indexing::Slice;
  auto X = torch::ones({1, 1, 6, 8});
  X.index_put_({Slice(), Slice(), Slice(), Slice(2, 6)}, 0);
  auto K = torch::tensor({1.0f, -1.0f}).reshape({1, 1, 1, 2});
  auto Y = torch::conv2d(X, K);
  return [X, Y]() {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(1, 1, {1, 2}).bias(true));
    torch::optim::SGD optimizer(conv->parameters(), torch::optim::SGDOptions(0.01));
    for (int i = 0; i < 20; ++i) {
      auto l = (conv(X) - Y).pow(2).sum();
      for (auto& p : conv->parameters()) clear_grad(p);  // zero_grad(set_to_none=True)
      l.backward();
      optimizer.step();
    }
  };
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: libtorch_ref THREADS REPETITIONS [CASE...]\n");
    return 2;
  }
  torch::set_num_threads(std::atoi(argv[1]));
  const int repetitions = std::max(1, std::atoi(argv[2]));
  std::vector<std::string> wanted(argv + 3, argv + argc);
  const std::vector<std::pair<std::string, std::function<std::function<void()>()>>> cases = {
      {"tape/tiny_loop", tiny_loop}, {"tape/seed_20_steps", seed_20_steps}};

  torch::manual_seed(0);
  std::string json = "{";
  for (const auto& [name, make] : cases) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), name) == wanted.end()) continue;
    std::string list;
    for (double seconds : measure(make(), repetitions)) {
      char number[32];
      std::snprintf(number, sizeof number, "%.6e", seconds);
      list += (list.empty() ? "" : ", ") + std::string(number);
    }
    json += (json.size() > 1 ? ", " : "") + ("\"" + name + "\": [" + list + "]");
  }
  std::printf("%s}\n", json.c_str());
  return 0;
}
