// SPDX-License-Identifier: MIT
// The fast paths of LeNet's non-GEMM ops (ops/pooling.cpp, unary.cpp, normalization.cpp):
// the compile-time 2x2 pooling kernels and the clipped border windows against a naive
// reference, and every threaded kernel against its 1-thread result. Sizes are chosen above
// parallel_for's threshold (32768 elements), so that two threads really split the work.
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/threads.hpp"

using tg::Pool2dOptions;
using tg::Shape;
using tg::Tensor;
using tg::test::allclose;

namespace {

// Small integers (many ties, exact sums) as float32.
Tensor small_integers(const Shape& shape, tg::Generator& gen) {
  Tensor t = tg::empty(shape);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(tg::test::random_int(gen, 0, 3));
  return t;
}

// Pooling by definition: window by window, the max's first occurrence in row-major order.
// Returns y and dx for the upstream gradient dy.
std::pair<Tensor, Tensor> naive_pool(const Tensor& x, const Pool2dOptions& o, bool max, const Tensor& dy) {
  auto [kh, kw] = o.kernel_size;
  auto [sh, sw] = o.stride.value_or(o.kernel_size);
  auto [ph, pw] = o.padding;
  std::int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3), oh = dy.size(2), ow = dy.size(3);
  Tensor y = tg::zeros(dy.shape()), dx = tg::zeros(x.shape());
  const float *px = x.data<float>(), *pdy = dy.data<float>();
  float *py = y.data<float>(), *pdx = dx.data<float>();
  for (std::int64_t p = 0; p < planes; ++p)
    for (std::int64_t i = 0; i < oh; ++i)
      for (std::int64_t j = 0; j < ow; ++j) {
        std::int64_t o = (p * oh + i) * ow + j, best = -1;
        float total = 0;
        for (std::int64_t r = std::max<std::int64_t>(i * sh - ph, 0); r < std::min(i * sh - ph + kh, h); ++r)
          for (std::int64_t c = std::max<std::int64_t>(j * sw - pw, 0); c < std::min(j * sw - pw + kw, w); ++c) {
            std::int64_t at = (p * h + r) * w + c;
            total += px[at];
            if (best < 0 || px[at] > px[best]) best = at;
            if (!max) pdx[at] += pdy[o] / static_cast<float>(kh * kw);
          }
        py[o] = max ? px[best] : total / static_cast<float>(kh * kw);
        if (max) pdx[best] += pdy[o];
      }
  return {y, dx};
}

// f's result and the gradient of sum(result * G) for its input, with `threads` threads.
std::pair<Tensor, Tensor> run(int threads, const Tensor& x_in, const std::function<Tensor(const Tensor&)>& f) {
  int previous = tg::get_num_threads();
  tg::set_num_threads(threads);
  Tensor x = x_in.detach().clone().requires_grad_();
  Tensor y = f(x);
  tg::Generator gen(7);
  Tensor g = tg::randn(y.shape(), gen);
  y.backward(g);
  tg::set_num_threads(previous);
  return {y.detach(), x.grad()};
}

}  // namespace

TEST_CASE("2x2 pooling fast paths and clipped borders equal pooling by definition", "[ops][pooling][perf]") {
  tg::Generator gen(91);
  for (Pool2dOptions o : {Pool2dOptions{}, Pool2dOptions{.kernel_size = 3, .stride = 2, .padding = 1},
                          Pool2dOptions{.kernel_size = {2, 2}, .stride = {2, 2}, .padding = {1, 1}},
                          Pool2dOptions{.kernel_size = {2, 3}, .stride = {1, 2}, .padding = {1, 0}}})
    for (Shape shape : {Shape{16, 6, 28, 28}, Shape{16, 16, 10, 10}, Shape{3, 2, 7, 9}})
      for (bool max : {true, false}) {
        INFO(fmt::format("{} x {} kernel {} stride {} padding {}", max ? "max" : "avg", shape, o.kernel_size, *o.stride,
                         o.padding));
        Tensor x = small_integers(shape, gen).requires_grad_();
        Tensor y = max ? tg::max_pool2d(x, o) : tg::avg_pool2d(x, o);
        Tensor dy = small_integers(y.shape(), gen);
        y.backward(dy);
        auto [y_ref, dx_ref] = naive_pool(x.detach(), o, max, dy);
        CHECK(allclose(y, y_ref, 0, 0));
        CHECK(allclose(x.grad(), dx_ref, 0, max ? 0 : 1e-6));
      }
}

TEST_CASE("threaded pooling, activations and batch_norm equal their 1-thread results", "[ops][threads][perf]") {
  tg::Generator gen(92);
  Tensor images = tg::randn({16, 6, 28, 28}, gen), small = tg::randn({16, 16, 10, 10}, gen);
  Tensor features = tg::randn({300, 120}, gen);
  Tensor mean = tg::zeros({6}), var = tg::ones({6}), weight = tg::rand({6}, gen), bias = tg::randn({6}, gen);
  Tensor mean120 = tg::zeros({120}), var120 = tg::ones({120}), weight120 = tg::rand({120}, gen);
  std::vector<std::tuple<std::string, Tensor, std::function<Tensor(const Tensor&)>>> cases = {
      {"max_pool2d", images, [](const Tensor& x) { return tg::max_pool2d(x); }},
      {"avg_pool2d", images, [](const Tensor& x) { return tg::avg_pool2d(x); }},
      {"avg_pool2d padded", small,
       [](const Tensor& x) {
         return tg::avg_pool2d(x, {.kernel_size = {3, 3}, .stride = {1, 1}, .padding = {1, 1}});
       }},
      {"sigmoid", images, [](const Tensor& x) { return tg::sigmoid(x); }},
      {"relu", images, [](const Tensor& x) { return tg::relu(x); }},
      {"tanh", images, [](const Tensor& x) { return tg::tanh(x); }},
      {"exp", images, [](const Tensor& x) { return tg::exp(x); }},
      {"log", images, [](const Tensor& x) { return tg::log(tg::exp(x)); }},
      {"batch_norm 4-D", images,
       [&](const Tensor& x) {
         Tensor m = mean.clone(), v = var.clone();
         return tg::batch_norm(x, m, v, weight, bias, true);
       }},
      {"batch_norm 4-D eval", images,
       [&](const Tensor& x) { return tg::batch_norm(x, mean, var, weight, bias, false); }},
      {"batch_norm 2-D", features,
       [&](const Tensor& x) {
         Tensor m = mean120.clone(), v = var120.clone();
         return tg::batch_norm(x, m, v, weight120, Tensor(), true);
       }},
  };
  for (const auto& [name, x, f] : cases) {
    INFO(name);
    auto [y1, dx1] = run(1, x, f);
    auto [y2, dx2] = run(2, x, f);
    CHECK(allclose(y1, y2, 1e-6, 1e-7));
    CHECK(allclose(dx1, dx2, 1e-6, 1e-7));
  }
}
