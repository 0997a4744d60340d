// SPDX-License-Identifier: MIT
// max_pool2d, avg_pool2d and flatten (ops/pooling.cpp): gradcheck, closed forms, PyTorch's
// values (scripts/fixtures/pooling_loss.py), ties, and the error messages.
#include <cmath>
#include <limits>
#include <utility>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/ops/pooling.hpp"

using tg::Pool2dOptions;
using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::MessageContains;

namespace {

// float64 values 0.1 * (a random permutation of 0 .. numel - 1): no two are equal, so every
// window has one maximum and finite differences never cross a kink.
Tensor distinct_values(const Shape& shape, tg::Generator& gen) {
  Tensor t = tg::arange(static_cast<double>(shape.numel()), {.dtype = tg::kFloat64}).reshape(shape) * 0.1;
  double* p = t.data<double>();
  for (std::int64_t i = shape.numel() - 1; i > 0; --i) std::swap(p[i], p[tg::test::random_int(gen, 0, i)]);
  return t;
}

struct PoolCase {
  Shape input;
  Pool2dOptions options;
};

// Random NCHW shapes up to 7x7 with kernels 1..3, strides 1..3 and padding 0..k/2 that fit.
std::vector<PoolCase> random_pool_cases(tg::Generator& gen) {
  std::vector<PoolCase> cases;
  while (cases.size() < 10) {
    std::int64_t kh = tg::test::random_int(gen, 1, 3), kw = tg::test::random_int(gen, 1, 3);
    Pool2dOptions options{.kernel_size = {kh, kw},
                          .stride = {tg::test::random_int(gen, 1, 3), tg::test::random_int(gen, 1, 3)},
                          .padding = {tg::test::random_int(gen, 0, kh / 2), tg::test::random_int(gen, 0, kw / 2)}};
    Shape input{tg::test::random_int(gen, 1, 2), tg::test::random_int(gen, 1, 2), tg::test::random_int(gen, 1, 7),
                tg::test::random_int(gen, 1, 7)};
    if (input[2] + 2 * options.padding[0] >= kh && input[3] + 2 * options.padding[1] >= kw)
      cases.push_back({input, options});
  }
  return cases;
}

std::string describe(const PoolCase& c) {
  return fmt::format("x {} kernel {} stride {} padding {}", c.input, c.options.kernel_size, *c.options.stride,
                     c.options.padding);
}

Tensor load(const std::string& name) { return tg::load_npy(tg::test::fixture("torch/pooling_loss/" + name + ".npy")); }

Tensor image(std::initializer_list<tg::NestedList> rows) { return Tensor(rows).reshape({1, 1, -1, 3}); }

}  // namespace

TEST_CASE("max_pool2d passes gradcheck on random shapes without ties", "[ops][pooling][gradcheck]") {
  tg::Generator gen(81);
  for (const PoolCase& c : random_pool_cases(gen)) {
    INFO(describe(c));
    auto result = tg::gradcheck([&](const std::vector<Tensor>& v) { return tg::max_pool2d(v[0], c.options); },
                                {distinct_values(c.input, gen)});
    INFO(result.message);
    REQUIRE(result.ok);
  }
}

TEST_CASE("avg_pool2d passes gradcheck on random shapes", "[ops][pooling][gradcheck]") {
  tg::Generator gen(82);
  for (const PoolCase& c : random_pool_cases(gen)) {
    INFO(describe(c));
    auto result = tg::gradcheck([&](const std::vector<Tensor>& v) { return tg::avg_pool2d(v[0], c.options); },
                                {tg::test::uniform(c.input, gen, -2, 2)});
    INFO(result.message);
    REQUIRE(result.ok);
  }
}

TEST_CASE("max_pool2d of a known 4x4: window maxima, gradient to where they were", "[ops][pooling]") {
  Tensor x = Tensor{{3, 1, 0, 2}, {4, 9, 8, 5}, {7, 6, 1, 1}, {0, 2, 3, 4}}.reshape({1, 1, 4, 4}).requires_grad_();
  Tensor y = tg::max_pool2d(x, {});  // 2x2 windows, stride 2
  CHECK(allclose(y, Tensor{{9, 8}, {7, 4}}.reshape({1, 1, 2, 2}), 0, 0));
  y.backward(Tensor{{1, 2}, {3, 4}}.reshape({1, 1, 2, 2}));
  CHECK(allclose(x.grad(), Tensor{{0, 0, 0, 0}, {0, 1, 2, 0}, {3, 0, 0, 0}, {0, 0, 0, 4}}.reshape({1, 1, 4, 4}), 0, 0));

  // Overlapping 3x3 windows with stride 1: the 9 sits in all four, so it gets all four gradients.
  x.set_grad(Tensor());
  Tensor z = tg::max_pool2d(x, {.kernel_size = {3, 3}, .stride = {1, 1}});
  CHECK(allclose(z, Tensor{{9, 9}, {9, 9}}.reshape({1, 1, 2, 2}), 0, 0));
  z.sum().backward();
  CHECK(x.grad().at({0, 0, 1, 1}) == 4);
  CHECK(x.grad().sum().item() == 4);
}

TEST_CASE("max_pool2d pads with -inf: negative inputs never pool to the padding's 0", "[ops][pooling]") {
  Tensor x = -image({{1, 2, 3}, {4, 5, 6}});
  Tensor y = tg::max_pool2d(x, {.kernel_size = {2, 2}, .stride = {1, 1}, .padding = {1, 1}});
  REQUIRE(y.shape() == Shape{1, 1, 3, 4});
  CHECK(allclose(y, Tensor{{-1, -1, -2, -3}, {-1, -1, -2, -3}, {-4, -4, -5, -6}}.reshape({1, 1, 3, 4}), 0, 0));
}

TEST_CASE("max_pool2d sends the gradient of a tied window to its first maximum, as torch", "[ops][pooling]") {
  Tensor x = image({{1, 5, 5}, {5, 5, 5}, {5, 5, 1}}).requires_grad_();
  tg::max_pool2d(x, {.kernel_size = {2, 2}, .stride = {1, 1}}).sum().backward();
  // Windows start at (0,0), (0,1), (1,0), (1,1); each sends its gradient to its first 5 in
  // row-major order: (0,1) twice, then (1,0) and (1,1). The last maximum would give (1,1),
  // (1,2), (2,1), (2,1).
  CHECK(allclose(x.grad(), image({{0, 2, 0}, {1, 1, 0}, {0, 0, 0}}), 0, 0));

  // A NaN wins over every number in its window, as in torch.
  Tensor with_nan = image({{1, std::nan(""), 3}});
  Tensor y = tg::max_pool2d(with_nan, {.kernel_size = {1, 2}, .stride = {1, 1}});
  CHECK(std::isnan(y.at({0, 0, 0, 0})));
  CHECK(std::isnan(y.at({0, 0, 0, 1})));
}

TEST_CASE("avg_pool2d counts the zero padding in every window (count_include_pad)", "[ops][pooling]") {
  Tensor x = tg::ones({1, 1, 3, 3}, {.requires_grad = true});
  Tensor y = tg::avg_pool2d(x, {.kernel_size = {3, 3}, .stride = {1, 1}, .padding = {1, 1}});
  // Each 3x3 window around a pixel sees 4 (corner), 6 (edge) or 9 (centre) ones, over 9.
  Tensor counts = Tensor{{4, 6, 4}, {6, 9, 6}, {4, 6, 4}}.reshape({1, 1, 3, 3}) / 9;
  CHECK(allclose(y, counts));
  // Pixel p is in as many windows as window p has pixels: the gradient of the sum is the same.
  y.sum().backward();
  CHECK(allclose(x.grad(), counts));

  Tensor plain = tg::avg_pool2d(Tensor{{1, 2, 3, 4}, {5, 6, 7, 8}}.reshape({1, 1, 2, 4}), {});
  CHECK(allclose(plain, Tensor{{3.5, 5.5}}.reshape({1, 1, 1, 2})));
}

TEST_CASE("pooling output sizes are (in + 2 padding - kernel) / stride + 1, rounded down", "[ops][pooling]") {
  Tensor x = tg::zeros({2, 3, 7, 6});
  CHECK(tg::max_pool2d(x, {}).shape() == Shape{2, 3, 3, 3});
  CHECK(tg::avg_pool2d(x, {.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}).shape() == Shape{2, 3, 4, 3});
  CHECK(tg::max_pool2d(x, {.kernel_size = {3, 2}, .stride = {1, 3}}).shape() == Shape{2, 3, 5, 2});
  CHECK(tg::avg_pool2d(tg::zeros({1, 1, 28, 28}, {.dtype = tg::kFloat64}), {}).dtype() == tg::kFloat64);
}

TEST_CASE("max_pool2d and avg_pool2d match torch, incl. ties, forward and backward", "[ops][pooling][torch]") {
  for (std::string op : {"max", "avg"}) {
    Tensor source = load(op == "max" ? "pool_x_ties" : "pool_x");
    for (std::int64_t k : {2, 3})
      for (std::int64_t s : {1, 2})
        for (std::int64_t p : {0, 1}) {
          std::string prefix = fmt::format("{}_k{}_s{}_p{}", op, k, s, p);
          INFO(prefix);
          Pool2dOptions options{.kernel_size = {k, k}, .stride = {s, s}, .padding = {p, p}};
          Tensor x = source.clone().requires_grad_();
          Tensor y = op == "max" ? tg::max_pool2d(x, options) : tg::avg_pool2d(x, options);
          CHECK(allclose(y, load(prefix + "_y")));
          (y * load(prefix + "_G")).sum().backward();
          CHECK(allclose(x.grad(), load(prefix + "_dx")));
        }
  }
}

TEST_CASE("pooling records only when its input requires grad", "[ops][pooling][tape]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  CHECK_FALSE(tg::max_pool2d(tg::ones({1, 1, 4, 4}), {}).requires_grad());
  CHECK_FALSE(tg::avg_pool2d(tg::ones({1, 1, 4, 4}), {}).requires_grad());
  CHECK(tape.size() == 0);
  Tensor x = tg::ones({1, 1, 4, 4}, {.requires_grad = true});
  {
    tg::NoGradGuard no_grad;
    CHECK_FALSE(tg::max_pool2d(x, {}).requires_grad());
  }
  Tensor y = tg::avg_pool2d(tg::max_pool2d(x, {}), {.kernel_size = {1, 1}});
  CHECK(y.requires_grad());
  REQUIRE(tape.size() == 2);
  CHECK(tg::test::op_name(0) == "max_pool2d");
  CHECK(tg::test::op_name(1) == "avg_pool2d");
  tape.clear();
}

TEST_CASE("pooling's backward halves are ops: they record when dy requires grad", "[ops][pooling][tape]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor index = tg::reshape(tg::tensor({0, 3, 9, 15}), {1, 1, 2, 2});
  Tensor dy = tg::ones({1, 1, 2, 2}, {.requires_grad = true});
  CHECK_FALSE(tg::max_pool2d_backward(dy.detach(), index, {1, 1, 4, 4}).requires_grad());
  CHECK_FALSE(tg::avg_pool2d_backward(dy.detach(), {1, 1, 4, 4}).requires_grad());
  CHECK(tape.size() == 0);
  Tensor dx = tg::max_pool2d_backward(dy, index, {1, 1, 4, 4});
  CHECK(dx.requires_grad());
  CHECK(tg::test::op_name() == "max_pool2d_backward");
  CHECK(allclose(dx.detach().reshape({16}),
                 Tensor{1.0F, 0.0F, 0.0F, 1.0F, 0.0F, 0.0F, 0.0F, 0.0F, 0.0F, 1.0F, 0.0F, 0.0F, 0.0F, 0.0F, 0.0F, 1.0F},
                 0, 0));
  CHECK(tg::avg_pool2d_backward(dy, {1, 1, 4, 4}).requires_grad());
  CHECK(tg::test::op_name() == "avg_pool2d_backward");
  CHECK(tape.size() == 2);
  tape.clear();
}

TEST_CASE("max_pool2d and avg_pool2d pass gradgradcheck on random shapes", "[ops][pooling][gradgradcheck]") {
  tg::Generator gen(63);
  for (const PoolCase& c : random_pool_cases(gen)) {
    INFO(describe(c));
    Tensor x = distinct_values(c.input, gen);
    Pool2dOptions o = c.options;
    for (bool max : {true, false}) {
      INFO((max ? "max_pool2d" : "avg_pool2d"));
      auto f = [o, max](const std::vector<Tensor>& v) {
        return max ? tg::max_pool2d(v[0], o) : tg::avg_pool2d(v[0], o);
      };
      tg::GradcheckResult r = tg::gradgradcheck(f, {x}, {.eps = 1e-3});
      INFO(r.message);
      CHECK(r.ok);
    }
    // The backward halves, on a dy of the output's shape: linear, so checked twice over too.
    Tensor dy = tg::test::uniform(tg::avg_pool2d(x, o).shape(), gen, -2, 2);
    const Shape input = c.input;
    auto avg_half = [o, input](const std::vector<Tensor>& v) { return tg::avg_pool2d_backward(v[0], input, o); };
    tg::GradcheckResult r = tg::gradcheck(avg_half, {dy});
    INFO(r.message);
    CHECK(r.ok);
    r = tg::gradgradcheck(avg_half, {dy});
    INFO(r.message);
    CHECK(r.ok);
  }
}

TEST_CASE("the second derivatives of pooling, by hand", "[ops][pooling][gradgradcheck]") {
  // L = sum(y^2) / 2. For avg_pool2d, dL/dx = A^T A x with A the pooling, so its derivative
  // along V is avg_pool2d_backward(avg_pool2d(V)). For max_pool2d, dL/dx[p] = sum over the
  // windows o whose maximum is p of x[p], so the derivative along V is V[p] times the number
  // of such windows: V times the first-order gradient of sum(max_pool2d(x)).
  tg::Generator gen(64);
  for (const PoolCase& c : random_pool_cases(gen)) {
    INFO(describe(c));
    Tensor x = distinct_values(c.input, gen).requires_grad_();
    Tensor V = tg::test::uniform(c.input, gen, -2, 2);
    Tensor ya = tg::avg_pool2d(x, c.options), ym = tg::max_pool2d(x, c.options);
    Tensor ga = tg::grad({(ya * ya).sum() * 0.5}, {x}, {.create_graph = true})[0];
    Tensor gm = tg::grad({(ym * ym).sum() * 0.5}, {x}, {.create_graph = true})[0];
    Tensor count = tg::grad({ym.sum()}, {x}, {.retain_graph = true})[0];
    Tensor ha = tg::grad({(ga * V).sum()}, {x})[0];
    Tensor hm = tg::grad({(gm * V).sum()}, {x})[0];
    tg::NoGradGuard no_grad;
    CHECK(allclose(ha, tg::avg_pool2d_backward(tg::avg_pool2d(V, c.options), c.input, c.options), 1e-12, 1e-12));
    CHECK(allclose(hm, V * count, 1e-12, 1e-12));
  }
}

TEST_CASE("max_pool2d_backward and avg_pool2d_backward are the adjoints of their poolings", "[ops][pooling]") {
  // <avg_pool2d(x), dy> = <x, avg_pool2d_backward(dy)>, and max_pool2d's gradient for a seed dy
  // is max_pool2d_backward(dy) with the indices of the windows' maxima (found here by hand).
  tg::Generator gen(65);
  auto inner = [](const Tensor& a, const Tensor& b) { return (a * b).sum().item<double>(); };
  for (const PoolCase& c : random_pool_cases(gen)) {
    INFO(describe(c));
    Tensor x = distinct_values(c.input, gen).requires_grad_();
    Tensor y = tg::max_pool2d(x, c.options);
    Tensor dy = tg::test::uniform(y.shape(), gen, -2, 2);
    CHECK(inner(tg::avg_pool2d(x, c.options), dy) ==
          Approx(inner(x, tg::avg_pool2d_backward(dy, c.input, c.options))).epsilon(1e-12).margin(1e-12));
    // Each window's maximum, as an offset into its plane: the input element equal to it.
    const std::int64_t plane = c.input[2] * c.input[3], out = y.size(2) * y.size(3);
    std::vector<std::int64_t> index(static_cast<std::size_t>(y.numel()));
    for (std::int64_t k = 0; k < y.numel(); ++k)
      for (std::int64_t p = 0; p < plane; ++p)
        if (x.data<double>()[k / out * plane + p] == y.data<double>()[k]) index[static_cast<std::size_t>(k)] = p;
    Tensor indices = tg::from_vector(index, y.shape());
    Tensor dx = tg::grad({y}, {x}, {.grad_outputs = {dy}})[0];
    CHECK(allclose(dx, tg::max_pool2d_backward(dy, indices, c.input, c.options), 0, 0));
  }
}

TEST_CASE("pooling rejects bad ranks, kernels, strides and padding, as torch does", "[ops][pooling][errors]") {
  Tensor x = tg::ones({1, 1, 4, 4});
  CHECK_THROWS_MATCHES(tg::max_pool2d(tg::ones({1, 4, 4}), {}), tg::ShapeError,
                       MessageContains({"max_pool2d", "4-D", "[1, 4, 4]"}));
  CHECK_THROWS_MATCHES(tg::avg_pool2d(x, {.kernel_size = {0, 2}}), tg::ValueError,
                       MessageContains({"avg_pool2d", "kernel_size", "[0, 2]"}));
  CHECK_THROWS_MATCHES(tg::max_pool2d(x, {.stride = {2, 0}}), tg::ValueError,
                       MessageContains({"max_pool2d", "stride", "[2, 0]"}));
  CHECK_THROWS_MATCHES(tg::max_pool2d(x, {.padding = {-1, 0}}), tg::ValueError,
                       MessageContains({"max_pool2d", "padding", "[-1, 0]"}));
  CHECK_THROWS_MATCHES(tg::avg_pool2d(x, {.kernel_size = {3, 3}, .padding = {2, 1}}), tg::ValueError,
                       MessageContains({"avg_pool2d", "padding [2, 1]", "half", "[3, 3]"}));
  CHECK_THROWS_MATCHES(tg::max_pool2d(x, {.kernel_size = {5, 2}}), tg::ShapeError,
                       MessageContains({"max_pool2d", "[5, 2]", "larger", "[4, 4]"}));
  CHECK_THROWS_MATCHES(tg::max_pool2d(tg::ones({1, 1, 0, 4}), {.kernel_size = {2, 2}, .padding = {1, 1}}),
                       tg::ShapeError, MessageContains({"max_pool2d", "[1, 1, 0, 4]", "empty"}));
}

TEST_CASE("flatten merges start_dim..end_dim like torch.flatten, as a view", "[ops][pooling][flatten]") {
  Tensor x = tg::arange(120).reshape({2, 3, 4, 5});
  CHECK(tg::flatten(x).shape() == Shape{2, 60});
  CHECK(tg::flatten(x, 0).shape() == Shape{120});
  CHECK(tg::flatten(x, 1, 2).shape() == Shape{2, 12, 5});
  CHECK(tg::flatten(x, -3, -2).shape() == Shape{2, 12, 5});
  CHECK(tg::flatten(x, 2, 2).shape() == x.shape());
  CHECK(tg::flatten(tg::scalar(7), 0).shape() == Shape{1});
  CHECK(tg::flatten(x).raw_data() == x.raw_data());  // no copy
  CHECK(tg::flatten(x).tolist() == x.tolist());

  Tensor leaf = tg::ones({2, 2, 2}, {.requires_grad = true});
  (tg::flatten(leaf) * Tensor{1, 2, 3, 4}).sum().backward();
  CHECK(allclose(leaf.grad(), Tensor{{{1, 2}, {3, 4}}, {{1, 2}, {3, 4}}}, 0, 0));

  CHECK_THROWS_MATCHES(tg::flatten(x, 2, 1), tg::ValueError, MessageContains({"flatten", "start_dim 2", "end_dim 1"}));
  CHECK_THROWS_MATCHES(tg::flatten(x, 4), tg::ValueError, MessageContains({"flatten", "dim 4"}));
  CHECK_THROWS_MATCHES(tg::flatten(tg::ones({5})), tg::ValueError, MessageContains({"flatten", "dim 1"}));
}

TEST_CASE("pooling and convolution options take a plain integer where PyTorch does", "[pooling][conv2d][shape]") {
  tg::Generator gen(11);
  Tensor x = tg::randn({1, 2, 7, 7}, gen);
  std::int64_t k = 3, s = 2;
  // PyTorch: F.max_pool2d(x, kernel_size=3, stride=2) and kernel_size=(3, 3), stride=(2, 2).
  Tensor plain = tg::max_pool2d(x, {.kernel_size = 3, .stride = 2});
  Tensor braced = tg::max_pool2d(x, {.kernel_size = {k, k}, .stride = {s, s}});
  CHECK(plain.shape() == Shape{1, 2, 3, 3});
  CHECK(allclose(plain, braced, 0, 0));
  CHECK(tg::avg_pool2d(x, {.kernel_size = k, .stride = s, .padding = 1}).shape() == Shape{1, 2, 4, 4});
  // Stride left out: the kernel size, as in PyTorch.
  CHECK(tg::max_pool2d(x, {.kernel_size = 3}).shape() == Shape{1, 2, 2, 2});

  Tensor w = tg::randn({4, 2, 3, 3}, gen);
  Tensor a = tg::conv2d(x, w, Tensor(), {.stride = 2, .padding = 1});
  Tensor b = tg::conv2d(x, w, Tensor(), {.stride = {2, 2}, .padding = {1, 1}});
  CHECK(a.shape() == Shape{1, 4, 4, 4});
  CHECK(allclose(a, b, 0, 0));
  CHECK(tg::conv2d(x, w, Tensor(), {.stride = {1, 2}}).shape() == Shape{1, 4, 5, 3});
}
