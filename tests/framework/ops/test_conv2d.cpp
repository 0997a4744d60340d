// SPDX-License-Identifier: MIT
// conv2d and its two backward halves (ops/conv2d.cpp): gradcheck, the corr2d it is built
// from, closed forms, errors, and PyTorch's F.conv2d values (scripts/fixtures/conv2d.py).
#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/ops/conv2d.hpp"

using tg::Conv2dOptions;
using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::MessageContains;

namespace {

// t[n, c] of a 4-D tensor, as a 2-D float64 leaf.
Tensor plane(const Tensor& t, std::int64_t n, std::int64_t c) {
  std::int64_t h = t.size(2), w = t.size(3);
  std::vector<double> all = t.tolist();
  auto first = all.begin() + (n * t.size(1) + c) * h * w;
  return tg::from_vector(std::vector<double>(first, first + h * w), {h, w}, {.dtype = tg::kFloat64});
}

// X with ph zero rows above and below and pw zero columns left and right.
Tensor zero_pad(const Tensor& X, std::int64_t ph, std::int64_t pw) {
  Tensor P = tg::zeros({X.size(0) + 2 * ph, X.size(1) + 2 * pw}, {.dtype = tg::kFloat64});
  for (std::int64_t i = 0; i < X.size(0); ++i)
    for (std::int64_t j = 0; j < X.size(1); ++j) P.at<double>({i + ph, j + pw}) = X.at<double>({i, j});
  return P;
}

// Y[n, o, i, j] = b[o] + sum_c corr2d(pad(x[n, c]), w[o, c])[sh i, sw j], from tg::corr2d calls.
Tensor conv2d_from_corr2d(const Tensor& x, const Tensor& w, const Tensor& b, Conv2dOptions o) {
  auto [sh, sw] = o.stride;
  auto [ph, pw] = o.padding;
  std::int64_t N = x.size(0), C = x.size(1), O = w.size(0);
  std::int64_t OH = (x.size(2) + 2 * ph - w.size(2)) / sh + 1, OW = (x.size(3) + 2 * pw - w.size(3)) / sw + 1;
  Tensor Y = tg::zeros({N, O, OH, OW}, {.dtype = tg::kFloat64});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t oc = 0; oc < O; ++oc) {
      Tensor sum = tg::corr2d(zero_pad(plane(x, n, 0), ph, pw), plane(w, oc, 0));
      for (std::int64_t c = 1; c < C; ++c) sum = sum + tg::corr2d(zero_pad(plane(x, n, c), ph, pw), plane(w, oc, c));
      for (std::int64_t i = 0; i < OH; ++i)
        for (std::int64_t j = 0; j < OW; ++j)
          Y.at<double>({n, oc, i, j}) = sum.at<double>({sh * i, sw * j}) + (b.defined() ? b.tolist()[oc] : 0.0);
    }
  return Y;
}

struct Conv2dCase {
  Tensor x, w, b;
  Conv2dOptions options;
};

// Small random float64 cases for every stride/padding pair below, kernels that fit.
std::vector<Conv2dCase> random_cases(tg::Generator& gen, std::int64_t max_n = 2) {
  const std::vector<Conv2dOptions> options = {{{1, 1}, {0, 0}}, {{2, 2}, {1, 1}}, {{2, 1}, {0, 2}},
                                              {{1, 2}, {2, 0}}, {{3, 2}, {1, 2}}, {{1, 1}, {2, 1}}};
  std::vector<Conv2dCase> cases;
  for (const Conv2dOptions& o : options) {
    auto random = [&](std::int64_t lo, std::int64_t hi) { return tg::test::random_int(gen, lo, hi); };
    std::int64_t N = random(1, max_n), C = random(1, 2), O = random(1, 2), kh = random(1, 3), kw = random(1, 3);
    std::int64_t H = random(std::max<std::int64_t>(1, kh - 2 * o.padding[0]), 5);
    std::int64_t W = random(std::max<std::int64_t>(1, kw - 2 * o.padding[1]), 5);
    cases.push_back({tg::test::uniform({N, C, H, W}, gen, -2, 2), tg::test::uniform({O, C, kh, kw}, gen, -2, 2),
                     tg::test::uniform({O}, gen, -2, 2), o});
  }
  return cases;
}

std::string describe(const Conv2dCase& c) {
  return fmt::format("x {} w {} stride ({}, {}) padding ({}, {})", c.x.shape(), c.w.shape(), c.options.stride[0],
                     c.options.stride[1], c.options.padding[0], c.options.padding[1]);
}

double inner(const Tensor& a, const Tensor& b) { return (a * b).sum().item<double>(); }

}  // namespace

TEST_CASE("conv2d passes gradcheck for x, weight and bias over strides and paddings", "[ops][conv2d][gradcheck]") {
  tg::Generator gen(81);
  for (const Conv2dCase& c : random_cases(gen)) {
    INFO(describe(c));
    Conv2dOptions o = c.options;
    auto with_bias = [o](const std::vector<Tensor>& v) { return tg::conv2d(v[0], v[1], v[2], o); };
    auto result = tg::gradcheck(with_bias, {c.x, c.w, c.b});
    INFO(result.message);
    REQUIRE(result.ok);
    auto without_bias = [o](const std::vector<Tensor>& v) { return tg::conv2d(v[0], v[1], Tensor(), o); };
    result = tg::gradcheck(without_bias, {c.x, c.w});
    INFO(result.message);
    REQUIRE(result.ok);
  }
}

TEST_CASE("conv2d is corr2d summed over input channels, plus the bias", "[ops][conv2d]") {
  tg::Generator gen(82);
  for (const Conv2dCase& c : random_cases(gen, 3)) {
    INFO(describe(c));
    // With the padding written out as zeros and the stride as sampling every sh-th row and
    // sw-th column of corr2d's output.
    CHECK(allclose(tg::conv2d(c.x, c.w, c.b, c.options), conv2d_from_corr2d(c.x, c.w, c.b, c.options), 1e-12, 1e-12));
    CHECK(allclose(tg::conv2d(c.x, c.w, Tensor(), c.options), conv2d_from_corr2d(c.x, c.w, Tensor(), c.options), 1e-12,
                   1e-12));
    // Padding given to conv2d equals corr2d on an explicitly zero-padded input.
    auto [ph, pw] = c.options.padding;
    Tensor padded =
        tg::zeros({c.x.size(0), c.x.size(1), c.x.size(2) + 2 * ph, c.x.size(3) + 2 * pw}, {.dtype = tg::kFloat64});
    for (std::int64_t n = 0; n < c.x.size(0); ++n)
      for (std::int64_t ch = 0; ch < c.x.size(1); ++ch) {
        Tensor p = zero_pad(plane(c.x, n, ch), ph, pw);
        std::copy(p.data<double>(), p.data<double>() + p.numel(),
                  padded.data<double>() + (n * c.x.size(1) + ch) * p.numel());
      }
    CHECK(allclose(tg::conv2d(c.x, c.w, c.b, c.options), tg::conv2d(padded, c.w, c.b, {.stride = c.options.stride}),
                   1e-12, 1e-12));
  }
}

TEST_CASE("conv2d's gradients equal those of the corr2d composition they replace", "[ops][conv2d]") {
  tg::Generator gen(83);
  Tensor x = tg::test::uniform({2, 3, 5, 6}, gen, -2, 2).requires_grad_();
  Tensor w = tg::test::uniform({2, 3, 2, 3}, gen, -2, 2).requires_grad_();
  Tensor b = tg::test::uniform({2}, gen, -2, 2).requires_grad_();
  Tensor G = tg::test::uniform({2, 2, 4, 4}, gen, -2, 2);
  (tg::conv2d(x, w, b) * G).sum().backward();

  // The same loss built from corr2d on per-plane leaves: L = sum_{n, o} <sum_c corr2d(X_nc, W_oc) + b_o, G_no>.
  std::vector<std::vector<Tensor>> X(2), W(2);
  std::vector<Tensor> B;
  for (std::int64_t i = 0; i < 2; ++i) {
    for (std::int64_t c = 0; c < 3; ++c) {
      X[i].push_back(plane(x.detach(), i, c).requires_grad_());
      W[i].push_back(plane(w.detach(), i, c).requires_grad_());
    }
    B.push_back(tg::from_vector({b.tolist()[i]}, {1}, {.dtype = tg::kFloat64, .requires_grad = true}));
  }
  Tensor loss = tg::scalar(0, {.dtype = tg::kFloat64});
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t o = 0; o < 2; ++o) {
      Tensor y = tg::corr2d(X[n][0], W[o][0]) + tg::corr2d(X[n][1], W[o][1]) + tg::corr2d(X[n][2], W[o][2]) + B[o];
      loss = loss + (y * plane(G, n, o)).sum();
    }
  loss.backward();
  for (std::int64_t i = 0; i < 2; ++i) {
    for (std::int64_t c = 0; c < 3; ++c) {
      CHECK(allclose(plane(x.grad(), i, c), X[i][c].grad(), 1e-12, 1e-12));
      CHECK(allclose(plane(w.grad(), i, c), W[i][c].grad(), 1e-12, 1e-12));
    }
    CHECK(b.grad().tolist()[i] == Approx(B[i].grad().item<double>()).epsilon(1e-12));
  }
}

TEST_CASE("conv2d's backward halves are its adjoints: <conv2d(x, w), dY> = <x, dx> = <w, dw>", "[ops][conv2d]") {
  tg::Generator gen(84);
  for (const Conv2dCase& c : random_cases(gen, 3)) {
    INFO(describe(c));
    Tensor Y = tg::conv2d(c.x, c.w, Tensor(), c.options);
    Tensor dY = tg::test::uniform(Y.shape(), gen, -2, 2);
    Tensor dx = tg::conv2d_backward_input(dY, c.w, c.x.shape(), c.options);
    Tensor dw = tg::conv2d_backward_weight(c.x, dY, c.w.shape(), c.options);
    REQUIRE(dx.shape() == c.x.shape());
    REQUIRE(dw.shape() == c.w.shape());
    CHECK(inner(c.x, dx) == Approx(inner(Y, dY)).epsilon(1e-12).margin(1e-12));
    CHECK(inner(c.w, dw) == Approx(inner(Y, dY)).epsilon(1e-12).margin(1e-12));
  }
}

TEST_CASE("conv2d: closed forms", "[ops][conv2d]") {
  SECTION("a 1x1 kernel is y = k x + b") {
    Tensor x = Tensor{{{{1, -2}, {3, 4}}}}.requires_grad_();
    Tensor w = Tensor{{{{3}}}}.requires_grad_(), b = Tensor{0.5}.requires_grad_();
    Tensor G = Tensor{{{{1, 2}, {3, 4}}}};
    Tensor y = tg::conv2d(x, w, b);
    CHECK(allclose(y, Tensor{{{{3.5, -5.5}, {9.5, 12.5}}}}, 0, 0));
    (y * G).sum().backward();
    CHECK(allclose(x.grad(), G * 3.0, 0, 0));                 // dx = k G
    CHECK(allclose(w.grad(), Tensor{{{{1 - 4 + 9 + 16}}}}));  // dk = sum x G
    CHECK(allclose(b.grad(), Tensor{10}, 0, 0));              // db = sum G
  }
  SECTION("ones through a 3x3 ones kernel with padding 1 count the in-bounds neighbours") {
    Tensor x = tg::ones({1, 1, 3, 3}, {.requires_grad = true}), w = tg::ones({1, 1, 3, 3}, {.requires_grad = true});
    Tensor b = tg::zeros({1}, {.requires_grad = true});
    Tensor y = tg::conv2d(x, w, b, {.padding = {1, 1}});
    Tensor counts = Tensor{{{{4, 6, 4}, {6, 9, 6}, {4, 6, 4}}}};
    CHECK(allclose(y, counts, 0, 0));
    y.sum().backward();
    CHECK(allclose(x.grad(), counts, 0, 0));  // how many windows cover each pixel
    CHECK(allclose(w.grad(), counts, 0, 0));  // how many windows put a pixel under each weight
    CHECK(allclose(b.grad(), Tensor{9}, 0, 0));
  }
  SECTION("stride 2 with a 2x2 kernel tiles the input: every pixel is in exactly one window") {
    Tensor x = tg::arange(16).reshape({1, 1, 4, 4}).requires_grad_();
    Tensor w = tg::ones({1, 1, 2, 2}, {.requires_grad = true});
    Tensor y = tg::conv2d(x, w, Tensor(), {.stride = {2, 2}});
    CHECK(allclose(y, Tensor{{{{10, 18}, {42, 50}}}}, 0, 0));
    y.sum().backward();
    CHECK(allclose(x.grad(), tg::ones({1, 1, 4, 4}), 0, 0));
    CHECK(allclose(w.grad(), Tensor{{{{20, 24}, {36, 40}}}}, 0, 0));
  }
  SECTION("stride 2 with a 1x1 kernel samples x[::2, ::2]; dx is dY dilated by the stride") {
    Tensor x = tg::arange(20).reshape({1, 1, 4, 5}).requires_grad_();
    Tensor y = tg::conv2d(x, tg::ones({1, 1, 1, 1}), Tensor(), {.stride = {2, 2}});
    CHECK(allclose(y, Tensor{{{{0, 2, 4}, {10, 12, 14}}}}, 0, 0));
    y.backward(Tensor{{{{1, 2, 3}, {4, 5, 6}}}});
    CHECK(allclose(x.grad(), Tensor{{{{1, 0, 2, 0, 3}, {0, 0, 0, 0, 0}, {4, 0, 5, 0, 6}, {0, 0, 0, 0, 0}}}}, 0, 0));
  }
  SECTION("input channels are summed and output channels are separate") {
    Tensor x = tg::ones({1, 2, 2, 2});
    x.index_put_({tg::Slice(), tg::Slice(1, 2)}, 2);     // channel 0 ones, channel 1 twos
    Tensor w = Tensor{{{{3}}, {{5}}}, {{{-1}}, {{1}}}};  // [O=2, C=2, 1, 1]
    Tensor y = tg::conv2d(x, w, Tensor{0, 100});
    CHECK(allclose(y.reshape({2, 4}), Tensor{{13, 13, 13, 13}, {101, 101, 101, 101}}, 0, 0));
  }
}

TEST_CASE("conv2d runs in float32 and float64, and records only when needed", "[ops][conv2d][dtype][tape]") {
  tg::Generator gen(85);
  Conv2dCase c = random_cases(gen)[2];
  Tensor y64 = tg::conv2d(c.x, c.w, c.b, c.options);
  Tensor y32 = tg::conv2d(c.x.to(tg::kFloat32), c.w.to(tg::kFloat32), c.b.to(tg::kFloat32), c.options);
  CHECK(y32.dtype() == tg::kFloat32);
  CHECK(allclose(y32, y64, 1e-5, 1e-5));
  CHECK(tg::conv2d(c.x.to(tg::kFloat32), c.w, c.b.to(tg::kFloat32), c.options).dtype() == tg::kFloat64);

  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  CHECK_FALSE(tg::conv2d(c.x, c.w, c.b, c.options).requires_grad());
  CHECK(tape.size() == 0);
  Tensor b = c.b.detach().clone().requires_grad_();
  {
    tg::NoGradGuard no_grad;
    CHECK_FALSE(tg::conv2d(c.x, c.w, b, c.options).requires_grad());
  }
  CHECK(tape.size() == 0);
  Tensor y = tg::conv2d(c.x, c.w, b, c.options);
  REQUIRE(tape.size() == 1);
  CHECK(tg::test::op_name() == "conv2d");
  y.sum().backward();
  CHECK_FALSE(c.x.grad().defined());
  CHECK_FALSE(c.w.grad().defined());
  CHECK(allclose(b.grad(),
                 tg::full({c.w.size(0)}, static_cast<double>(y.numel() / c.w.size(0)), {.dtype = tg::kFloat64}), 0, 0));
  // The backward halves are ops: they record when an argument requires grad (as under a
  // backward with create_graph), and not otherwise.
  Tensor dY = tg::ones(y.shape(), {.dtype = tg::kFloat64, .requires_grad = true});
  CHECK_FALSE(tg::conv2d_backward_input(dY.detach(), c.w, c.x.shape(), c.options).requires_grad());
  CHECK_FALSE(tg::conv2d_backward_weight(c.x, dY.detach(), c.w.shape(), c.options).requires_grad());
  CHECK(tape.size() == 0);
  CHECK(tg::conv2d_backward_input(dY, c.w, c.x.shape(), c.options).requires_grad());
  CHECK(tg::test::op_name() == "conv2d_backward_input");
  CHECK(tg::conv2d_backward_weight(c.x, dY, c.w.shape(), c.options).requires_grad());
  CHECK(tg::test::op_name() == "conv2d_backward_weight");
  CHECK(tape.size() == 2);
  tape.clear();
}

TEST_CASE("conv2d's backward records its halves under create_graph, and nothing otherwise", "[ops][conv2d][tape]") {
  tg::Generator gen(86);
  Conv2dCase c = random_cases(gen)[1];
  Tensor x = c.x.requires_grad_(), w = c.w.requires_grad_(), b = c.b.requires_grad_();
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor Y = tg::conv2d(x, w, b, c.options);
  Tensor L = (Y * Y).sum();
  const std::size_t forward = tape.size();
  std::vector<Tensor> g = tg::grad({L}, {x, w, b}, {.retain_graph = true});
  CHECK(tape.size() == forward);
  CHECK_FALSE(g[0].requires_grad());
  std::vector<Tensor> h = tg::grad({L}, {x, w, b}, {.create_graph = true});
  for (int k = 0; k < 3; ++k) {
    CHECK(h[static_cast<std::size_t>(k)].requires_grad());
    CHECK(allclose(h[static_cast<std::size_t>(k)], g[static_cast<std::size_t>(k)], 1e-12, 1e-12));
  }
  std::vector<std::string> names;
  for (std::size_t i = forward; i < tape.size(); ++i) names.emplace_back(tape.entry(i).op->name);
  CHECK(std::count(names.begin(), names.end(), "conv2d_backward_input") == 1);
  CHECK(std::count(names.begin(), names.end(), "conv2d_backward_weight") == 1);
  tape.clear();
}

TEST_CASE("conv2d and its halves pass gradgradcheck over strides and paddings", "[ops][conv2d][gradgradcheck]") {
  tg::Generator gen(87);
  for (const Conv2dCase& c : random_cases(gen)) {
    INFO(describe(c));
    const Conv2dOptions o = c.options;
    const Shape xs = c.x.shape(), ws = c.w.shape();
    Tensor dY = tg::test::uniform(tg::conv2d(c.x, c.w, {}, o).shape(), gen, -2, 2);
    const std::vector<std::tuple<std::string, tg::TensorFunction, std::vector<Tensor>>> checks = {
        {"conv2d", [o](const std::vector<Tensor>& v) { return tg::conv2d(v[0], v[1], v[2], o); }, {c.x, c.w, c.b}},
        {"conv2d_backward_input",
         [o, xs](const std::vector<Tensor>& v) { return tg::conv2d_backward_input(v[0], v[1], xs, o); },
         {dY, c.w}},
        {"conv2d_backward_weight",
         [o, ws](const std::vector<Tensor>& v) { return tg::conv2d_backward_weight(v[0], v[1], ws, o); },
         {c.x, dY}}};
    for (const auto& [name, f, args] : checks) {
      INFO(name);
      tg::test::check_first_and_second(f, args);
    }
  }
}

TEST_CASE("conv2d's double backward equals the composition of its halves, by hand", "[ops][conv2d][gradgradcheck]") {
  // L = sum(Y^2) / 2 with Y = conv2d(x, W, b) has dL/dW = B_w(x, Y). Its derivative along V,
  // s = <B_w(x, Y), V> = <conv2d(x, V), Y>, is (with P = conv2d(x, V), no bias):
  //   ds/dW = B_w(x, P)           ds/dx = B_in(Y, V) + B_in(P, W)           ds/db = P summed over n, i, j
  // and along U for dL/dx = B_in(Y, W), t = <B_in(Y, W), U> = <conv2d(U, W), Y>, with Q = conv2d(U, W):
  //   dt/dW = B_w(U, Y) + B_w(x, Q)   dt/dx = B_in(Q, W)                     dt/db = Q summed over n, i, j
  tg::Generator gen(88);
  for (Conv2dCase c : random_cases(gen)) {
    INFO(describe(c));
    const Conv2dOptions o = c.options;
    Tensor x = c.x.requires_grad_(), w = c.w.requires_grad_(), b = c.b.requires_grad_();
    Tensor V = tg::test::uniform(w.shape(), gen, -2, 2), U = tg::test::uniform(x.shape(), gen, -2, 2);
    Tensor Y = tg::conv2d(x, w, b, o);
    std::vector<Tensor> g = tg::grad({(Y * Y).sum() * 0.5}, {x, w}, {.create_graph = true});
    std::vector<Tensor> along_V = tg::grad({(g[1] * V).sum()}, {x, w, b}, {.retain_graph = true});
    std::vector<Tensor> along_U = tg::grad({(g[0] * U).sum()}, {x, w, b});

    tg::NoGradGuard no_grad;
    auto B_in = [&](const Tensor& dY, const Tensor& W) { return tg::conv2d_backward_input(dY, W, x.shape(), o); };
    auto B_w = [&](const Tensor& X, const Tensor& dY) { return tg::conv2d_backward_weight(X, dY, w.shape(), o); };
    auto bias_sum = [](const Tensor& t) { return tg::sum(tg::sum(tg::sum(t, 3), 2), 0); };
    Tensor P = tg::conv2d(x, V, {}, o), Q = tg::conv2d(U, w, {}, o);
    CHECK(allclose(along_V[0], B_in(Y, V) + B_in(P, w), 1e-10, 1e-10));
    CHECK(allclose(along_V[1], B_w(x, P), 1e-10, 1e-10));
    CHECK(allclose(along_V[2], bias_sum(P), 1e-10, 1e-10));
    CHECK(allclose(along_U[0], B_in(Q, w), 1e-10, 1e-10));
    CHECK(allclose(along_U[1], B_w(U, Y) + B_w(x, Q), 1e-10, 1e-10));
    CHECK(allclose(along_U[2], bias_sum(Q), 1e-10, 1e-10));
  }
}

TEST_CASE("conv2d rejects bad shapes and options, naming them", "[ops][conv2d][errors]") {
  Tensor x = tg::ones({2, 1, 5, 5}), w = tg::ones({6, 1, 5, 5});
  CHECK_THROWS_MATCHES(tg::conv2d(tg::ones({2, 3, 5, 5}), w), tg::ShapeError,
                       MessageContains({"conv2d: input has 3 channels but weight expects 1 ([O=6, C=1, 5, 5])"}));
  CHECK_THROWS_MATCHES(tg::conv2d(tg::ones({1, 5, 5}), w), tg::ShapeError,
                       MessageContains({"conv2d", "4-D [N, C, H, W]", "[1, 5, 5]"}));
  CHECK_THROWS_MATCHES(tg::conv2d(x, tg::ones({1, 5, 5})), tg::ShapeError,
                       MessageContains({"conv2d", "weight", "[O, C, kh, kw]", "[1, 5, 5]"}));
  CHECK_THROWS_MATCHES(tg::conv2d(tg::ones({1, 1, 3, 6}), w), tg::ShapeError,
                       MessageContains({"conv2d", "[5, 5]", "larger", "padded input [3, 6]"}));
  CHECK_THROWS_MATCHES(tg::conv2d(tg::ones({1, 1, 3, 6}), w, Tensor(), {.padding = {0, 1}}), tg::ShapeError,
                       MessageContains({"padded input [3, 8]", "padding (0, 1)"}));
  CHECK_NOTHROW(tg::conv2d(tg::ones({1, 1, 3, 6}), w, Tensor(), {.padding = {1, 1}}));
  CHECK_THROWS_MATCHES(tg::conv2d(x, tg::ones({6, 1, 0, 5})), tg::ShapeError, MessageContains({"conv2d", "empty"}));
  CHECK_THROWS_MATCHES(tg::conv2d(x, w, Tensor(), {.stride = {0, 1}}), tg::ValueError,
                       MessageContains({"conv2d", "stride", "positive", "(0, 1)"}));
  CHECK_THROWS_MATCHES(tg::conv2d(x, w, Tensor(), {.stride = {1, -2}}), tg::ValueError,
                       MessageContains({"stride", "(1, -2)"}));
  CHECK_THROWS_MATCHES(tg::conv2d(x, w, Tensor(), {.padding = {-1, 0}}), tg::ValueError,
                       MessageContains({"conv2d", "padding", "non-negative", "(-1, 0)"}));
  CHECK_THROWS_MATCHES(tg::conv2d(x, w, tg::ones({5})), tg::ShapeError,
                       MessageContains({"conv2d", "bias", "[6]", "[5]"}));
  CHECK_THROWS_MATCHES(tg::conv2d(x, w, tg::ones({1, 6})), tg::ShapeError, MessageContains({"bias", "[1, 6]"}));

  Tensor dY = tg::ones({2, 6, 1, 1});
  CHECK_THROWS_MATCHES(tg::conv2d_backward_input(tg::ones({2, 6, 2, 1}), w, x.shape(), {}), tg::ShapeError,
                       MessageContains({"conv2d_backward_input", "dY [2, 6, 2, 1]", "[2, 6, 1, 1]"}));
  CHECK_THROWS_MATCHES(tg::conv2d_backward_input(dY, w, Shape{2, 2, 5, 5}, {}), tg::ShapeError,
                       MessageContains({"conv2d_backward_input", "2 channels"}));
  CHECK_THROWS_MATCHES(tg::conv2d_backward_weight(x, tg::ones({2, 5, 1, 1}), w.shape(), {}), tg::ShapeError,
                       MessageContains({"conv2d_backward_weight", "dY [2, 5, 1, 1]"}));
  CHECK_THROWS_MATCHES(tg::conv2d_backward_weight(x, dY, w.shape(), {.stride = {0, 0}}), tg::ValueError,
                       MessageContains({"conv2d_backward_weight", "stride"}));
}

TEST_CASE("conv2d matches torch's F.conv2d, forward and backward", "[ops][conv2d][torch]") {
  auto load = [](int i, const std::string& part) {
    return tg::load_npy(tg::test::fixture(fmt::format("torch/conv2d/case{}_{}.npy", i, part)));
  };
  for (int i = 0; i < 12; ++i) {
    Tensor x = load(i, "x").requires_grad_(), w = load(i, "weight").requires_grad_(),
           b = load(i, "bias").requires_grad_();
    std::vector<double> o = load(i, "options").tolist();
    Conv2dOptions options{{static_cast<std::int64_t>(o[0]), static_cast<std::int64_t>(o[1])},
                          {static_cast<std::int64_t>(o[2]), static_cast<std::int64_t>(o[3])}};
    INFO("case " << i << ": " << describe({x, w, b, options}));
    Tensor y = tg::conv2d(x, w, b, options), G = load(i, "G");
    CHECK(y.dtype() == tg::kFloat32);
    CHECK(allclose(y, load(i, "y"), 1e-4, 1e-5));
    (y * G).sum().backward();
    CHECK(allclose(x.grad(), load(i, "dx"), 1e-4, 1e-5));
    CHECK(allclose(w.grad(), load(i, "dweight"), 1e-4, 1e-5));
    CHECK(allclose(b.grad(), load(i, "dbias"), 1e-4, 1e-5));
    // The named halves give the same numbers when called alone.
    CHECK(allclose(tg::conv2d_backward_input(G, w.detach(), x.shape(), options), load(i, "dx"), 1e-4, 1e-5));
    CHECK(allclose(tg::conv2d_backward_weight(x.detach(), G, w.shape(), options), load(i, "dweight"), 1e-4, 1e-5));
  }
}
