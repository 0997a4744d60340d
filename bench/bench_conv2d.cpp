// SPDX-License-Identifier: MIT
// conv2d forward and backward on the shapes of the performance table, and its throughput
// against the batch size (thread scaling: run tg_bench with --threads 1 and --threads 2).
#include <cstdint>
#include <string_view>
#include <utility>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "common.hpp"
#include "tapegrad/tapegrad.hpp"

namespace {

using tg::Tensor;

// x [N, C, H, W], weight [O, C, k, k], stride 1, padding p.
struct ConvShape {
  std::int64_t N, C, H, W, O, k, p;
};

constexpr ConvShape kLenetConv1{256, 1, 28, 28, 6, 5, 2};
constexpr ConvShape kLenetConv2{256, 6, 14, 14, 16, 5, 0};
constexpr ConvShape kC64{32, 64, 56, 56, 64, 3, 1};

// One forward and backward of y = conv2d(x, w, b) for x, w and b that all need gradients,
// with dL/dy = 1 (PyTorch: `y.backward(torch.ones_like(y))`, then the gradients are cleared).
// Returns the forward's flop count, 2 N O C k^2 OH OW; the backward costs twice that.
double conv_forward_backward(benchmark::State& state, const ConvShape& s) {
  tg::Generator gen(tg_bench::kSeed);
  Tensor x = tg::randn({s.N, s.C, s.H, s.W}, gen, {.requires_grad = true});
  Tensor w = tg::randn({s.O, s.C, s.k, s.k}, gen, {.requires_grad = true});
  Tensor b = tg::randn({s.O}, gen, {.requires_grad = true});
  const tg::Conv2dOptions options{.padding = {s.p, s.p}};
  for (auto _ : state) {
    Tensor y = tg::conv2d(x, w, b, options);
    y.backward(tg::ones_like(y));
    for (Tensor* t : {&x, &w, &b}) t->set_grad(Tensor());
  }
  const std::int64_t OH = s.H + 2 * s.p - s.k + 1, OW = s.W + 2 * s.p - s.k + 1;
  return 2.0 * static_cast<double>(s.N * s.O * s.C * s.k * s.k * OH * OW);
}

void conv(benchmark::State& state, ConvShape s) {
  const double forward_flops = conv_forward_backward(state, s);
  state.counters["FLOPs"] = benchmark::Counter(3 * forward_flops, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK_CAPTURE(conv, lenet_conv1, kLenetConv1)
    ->Name("conv2d/lenet_conv1")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv, lenet_conv2, kLenetConv2)
    ->Name("conv2d/lenet_conv2")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv, c64_56, kC64)->Name("conv2d/c64_56")->Unit(benchmark::kMillisecond)->UseRealTime();

// LeNet's conv2 with batch size B = 1, 4, ..., 256.
void batch_scaling(benchmark::State& state) {
  ConvShape s = kLenetConv2;
  s.N = state.range(0);
  conv_forward_backward(state, s);
  state.counters["images"] =
      benchmark::Counter(static_cast<double>(s.N), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(batch_scaling)
    ->Name("conv2d/batch_scaling")
    ->RangeMultiplier(4)
    ->Range(1, 256)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// Each half of the work alone, for each algorithm (tg::Conv2dAlgorithm): the forward, dx
// (conv2d_backward_input) and dW (conv2d_backward_weight), so that the implementations can be
// compared part by part. FLOPs counts the multiply-adds of the definition, 2 N O C k^2 OH OW,
// for every algorithm, so it reads as how fast each one delivers the same result (rotated
// multiplies more zeros than that, see ops/conv2d_reference.cpp).
enum class Part { forward, input_grad, weight_grad };

void by_algorithm(benchmark::State& state, ConvShape s, tg::Conv2dAlgorithm algorithm, Part part) {
  if (algorithm == tg::Conv2dAlgorithm::direct && !tg::direct_conv2d_available()) {
    state.SkipWithError("this build has no direct conv2d (it needs AVX-512)");
    return;
  }
  tg::Generator gen(tg_bench::kSeed);
  Tensor x = tg::randn({s.N, s.C, s.H, s.W}, gen);
  Tensor w = tg::randn({s.O, s.C, s.k, s.k}, gen);
  Tensor b = tg::randn({s.O}, gen);
  const tg::Conv2dOptions options{.padding = {s.p, s.p}};
  Tensor dy = tg::randn(tg::conv2d(x, w, b, options).shape(), gen);
  const tg::Conv2dAlgorithm previous = tg::get_conv2d_algorithm();
  tg::set_conv2d_algorithm(algorithm);
  for (auto _ : state) {
    Tensor out = part == Part::forward      ? tg::conv2d(x, w, b, options)
                 : part == Part::input_grad ? tg::conv2d_backward_input(dy, w, x.shape(), options)
                                            : tg::conv2d_backward_weight(x, dy, w.shape(), options);
    benchmark::DoNotOptimize(out.data<float>());
  }
  tg::set_conv2d_algorithm(previous);
  const std::int64_t OH = s.H + 2 * s.p - s.k + 1, OW = s.W + 2 * s.p - s.k + 1;
  state.counters["FLOPs"] = benchmark::Counter(2.0 * static_cast<double>(s.N * s.O * s.C * s.k * s.k * OH * OW),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

void register_by_algorithm() {
  const std::pair<const char*, ConvShape> shapes[] = {
      {"lenet_conv1", kLenetConv1}, {"lenet_conv2", kLenetConv2}, {"c64_56", kC64}};
  const std::pair<const char*, tg::Conv2dAlgorithm> algorithms[] = {{"gemm", tg::Conv2dAlgorithm::gemm},
                                                                    {"direct", tg::Conv2dAlgorithm::direct},
                                                                    {"naive", tg::Conv2dAlgorithm::naive},
                                                                    {"rotated", tg::Conv2dAlgorithm::rotated}};
  const std::pair<const char*, Part> parts[] = {
      {"forward", Part::forward}, {"input_grad", Part::input_grad}, {"weight_grad", Part::weight_grad}};
  for (const auto& [shape_name, shape] : shapes)
    for (const auto& [algorithm_name, algorithm] : algorithms)
      for (const auto& [part_name, part] : parts) {
        // Note: the references are timed on LeNet's shapes only. On c64_56 (7.4 GFLOP per part)
        // each iteration would take seconds, and every run of the suite (compare_pytorch.py runs
        // all of it, three repetitions per thread count) minutes longer; LeNet's conv1 and conv2
        // already show what they cost next to gemm and direct.
        const bool reference = algorithm == tg::Conv2dAlgorithm::naive || algorithm == tg::Conv2dAlgorithm::rotated;
        if (reference && std::string_view(shape_name) == "c64_56") continue;
        benchmark::RegisterBenchmark(
            fmt::format("conv2d_algorithm/{}/{}/{}", shape_name, algorithm_name, part_name).c_str(), by_algorithm,
            shape, algorithm, part)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
}
const bool registered = (register_by_algorithm(), true);

}  // namespace
