// SPDX-License-Identifier: MIT
// conv2d's four algorithms (tg::set_conv2d_algorithm) against each other: gemm, direct and the two
// references of ops/conv2d_reference.cpp, naive (the defining sums as loops) and rotated (corr2d
// of whole planes, dx through rot180 of the kernel). test_conv2d_blocked.cpp checks each of them
// against the definition on larger shapes; here they are compared with each other, pass gradcheck,
// and the rotated formulation is followed by hand with tg::corr2d on a tiny example.
#include <array>
#include <string>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/ops/conv2d.hpp"

using tg::Conv2dAlgorithm;
using tg::Conv2dOptions;
using tg::Tensor;
using tg::test::allclose;

namespace {

// Sets the conv2d algorithm for a scope.
struct AlgorithmGuard {
  Conv2dAlgorithm previous = tg::get_conv2d_algorithm();
  explicit AlgorithmGuard(Conv2dAlgorithm a) { tg::set_conv2d_algorithm(a); }
  ~AlgorithmGuard() { tg::set_conv2d_algorithm(previous); }
};

const char* name(Conv2dAlgorithm a) {
  switch (a) {
    case Conv2dAlgorithm::automatic:
      return "automatic";
    case Conv2dAlgorithm::gemm:
      return "gemm";
    case Conv2dAlgorithm::direct:
      return "direct";
    case Conv2dAlgorithm::naive:
      return "naive";
    case Conv2dAlgorithm::rotated:
      return "rotated";
  }
  return "?";
}

struct Case {
  std::int64_t N, C, H, W, O, kh, kw;
  Conv2dOptions options;
};

std::string describe(const Case& k) {
  return fmt::format("x [{}, {}, {}, {}] w [{}, {}, {}, {}] stride ({}, {}) padding ({}, {})", k.N, k.C, k.H, k.W, k.O,
                     k.C, k.kh, k.kw, k.options.stride[0], k.options.stride[1], k.options.padding[0],
                     k.options.padding[1]);
}

// y = conv2d(x, w, b) and the gradients of (y * G).sum(), under one algorithm.
struct Results {
  Tensor y, dx, dw, db;
};

Results run(Conv2dAlgorithm algorithm, const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, const Tensor& G,
            const Conv2dOptions& options) {
  AlgorithmGuard guard(algorithm);
  Tensor x = x_in.detach().requires_grad_(), w = w_in.detach().requires_grad_(), b = b_in.detach().requires_grad_();
  Tensor y = tg::conv2d(x, w, b, options);
  (y * G).sum().backward();
  return {y.detach(), x.grad(), w.grad(), b.grad()};
}

bool direct_applies(const Case& k, tg::Dtype dtype) {
  return tg::direct_conv2d_available() && dtype == tg::kFloat32 &&
         k.options.stride == std::array<std::int64_t, 2>{1, 1};
}

// The algorithms that apply to k in dtype: all but direct everywhere, direct where it can run.
std::vector<Conv2dAlgorithm> algorithms_for(const Case& k, tg::Dtype dtype) {
  std::vector<Conv2dAlgorithm> all = {Conv2dAlgorithm::gemm, Conv2dAlgorithm::naive, Conv2dAlgorithm::rotated};
  if (direct_applies(k, dtype)) all.push_back(Conv2dAlgorithm::direct);
  return all;
}

const std::vector<Case> kCases = {
    {2, 3, 7, 9, 4, 3, 2, {{1, 1}, {0, 0}}},     // uneven kernel, several channels
    {2, 2, 8, 7, 3, 3, 3, {{2, 2}, {1, 1}}},     // stride and padding
    {1, 4, 9, 10, 2, 2, 4, {{3, 2}, {2, 1}}},    // strides that do not divide the padded input
    {3, 1, 5, 5, 5, 5, 5, {{1, 1}, {2, 2}}},     // LeNet's conv1 in small
    {2, 6, 14, 14, 16, 5, 5, {{1, 1}, {0, 0}}},  // LeNet's conv2 with two images
    {1, 2, 4, 6, 3, 1, 3, {{2, 3}, {0, 2}}},     // a one-row kernel, padding in columns only
    {2, 3, 3, 3, 2, 3, 3, {{1, 1}, {2, 2}}},     // output larger than the input
    {1, 2, 6, 6, 2, 4, 4, {{4, 4}, {0, 0}}},     // stride = kernel: windows that do not overlap
};

// X [h, w] with ph zero rows above and below and pw zero columns left and right, in float64.
Tensor zero_pad(const Tensor& X, std::int64_t ph, std::int64_t pw) {
  Tensor X64 = X.to(tg::kFloat64);
  Tensor P = tg::zeros({X.size(0) + 2 * ph, X.size(1) + 2 * pw}, {.dtype = tg::kFloat64});
  for (std::int64_t i = 0; i < X.size(0); ++i)
    for (std::int64_t j = 0; j < X.size(1); ++j) P.at<double>({i + ph, j + pw}) = X64.at<double>({i, j});
  return P;
}

// Planes of one shape [h, w] one after the other, as a float64 tensor [planes, h, w].
Tensor stack(const std::vector<Tensor>& planes) {
  std::vector<double> values;
  for (const Tensor& p : planes)
    for (double v : p.tolist()) values.push_back(v);
  return tg::from_vector(values, {static_cast<std::int64_t>(planes.size()), planes[0].size(0), planes[0].size(1)},
                         {.dtype = tg::kFloat64});
}

}  // namespace

TEST_CASE("conv2d's algorithms agree with each other", "[ops][conv2d]") {
  tg::Generator gen(95);
  int with_direct = 0;
  for (const Case& k : kCases)
    for (tg::Dtype dtype : {tg::kFloat64, tg::kFloat32}) {
      INFO(describe(k) << " dtype " << (dtype == tg::kFloat32 ? "float32" : "float64"));
      Tensor x = tg::test::uniform({k.N, k.C, k.H, k.W}, gen, -1, 1).to(dtype);
      Tensor w = tg::test::uniform({k.O, k.C, k.kh, k.kw}, gen, -1, 1).to(dtype);
      Tensor b = tg::test::uniform({k.O}, gen, -1, 1).to(dtype);
      Tensor y = tg::conv2d(x, w, b, k.options);
      Tensor G = tg::test::uniform(y.shape(), gen, -1, 1).to(dtype);
      const double tol = dtype == tg::kFloat32 ? 1e-4 : 1e-12;
      std::vector<Conv2dAlgorithm> algorithms = algorithms_for(k, dtype);
      with_direct += algorithms.size() == 4;
      std::vector<Results> results;
      for (Conv2dAlgorithm a : algorithms) results.push_back(run(a, x, w, b, G, k.options));
      for (std::size_t i = 0; i < algorithms.size(); ++i)
        for (std::size_t j = i + 1; j < algorithms.size(); ++j) {
          INFO(name(algorithms[i]) << " vs " << name(algorithms[j]));
          CHECK(allclose(results[i].y, results[j].y, tol, tol));
          CHECK(allclose(results[i].dx, results[j].dx, tol, tol));
          CHECK(allclose(results[i].dw, results[j].dw, tol, tol));
          CHECK(allclose(results[i].db, results[j].db, tol, tol));
        }
    }
  // direct joins the comparison in float32 for the four cases with stride (1, 1).
  CHECK(with_direct == (tg::direct_conv2d_available() ? 4 : 0));
}

TEST_CASE("conv2d passes gradcheck under gemm, naive and rotated", "[ops][conv2d][gradcheck]") {
  Conv2dAlgorithm algorithm = GENERATE(Conv2dAlgorithm::gemm, Conv2dAlgorithm::naive, Conv2dAlgorithm::rotated);
  INFO("algorithm " << name(algorithm));
  AlgorithmGuard guard(algorithm);
  tg::Generator gen(96);
  const std::vector<Case> cases = {
      {2, 2, 4, 5, 2, 2, 3, {{1, 1}, {0, 0}}},  // uneven kernel
      {1, 2, 5, 5, 2, 3, 3, {{2, 2}, {1, 1}}},  // stride 2 with padding
      {2, 1, 5, 4, 3, 2, 2, {{3, 2}, {1, 0}}},  // strides that do not divide, padding in rows
      {1, 3, 3, 4, 2, 3, 1, {{1, 2}, {2, 1}}},  // padding wider than the kernel reaches
  };
  for (const Case& k : cases) {
    INFO(describe(k));
    Tensor x = tg::test::uniform({k.N, k.C, k.H, k.W}, gen, -2, 2);
    Tensor w = tg::test::uniform({k.O, k.C, k.kh, k.kw}, gen, -2, 2);
    Tensor b = tg::test::uniform({k.O}, gen, -2, 2);
    Conv2dOptions o = k.options;
    auto with_bias = [o](const std::vector<Tensor>& v) { return tg::conv2d(v[0], v[1], v[2], o); };
    auto result = tg::gradcheck(with_bias, {x, w, b});
    INFO(result.message);
    REQUIRE(result.ok);
    auto without_bias = [o](const std::vector<Tensor>& v) { return tg::conv2d(v[0], v[1], Tensor(), o); };
    result = tg::gradcheck(without_bias, {x, w});
    INFO(result.message);
    REQUIRE(result.ok);
  }
}

// The example of docs/autograd.md, section 5, as a conv2d with one image and one channel:
//   x = [[0, 1, 2], [3, 4, 5], [6, 7, 8]], W = [[0, 1], [2, 3]], dY = ones(2, 2)
//   dx = corr2d(pad(dY, 1, 1), rot180(W)) = [[0, 1, 1], [2, 6, 4], [2, 5, 3]]
//   dW = corr2d(x, dY)                    = [[8, 12], [20, 24]]
TEST_CASE("rotated conv2d: the corr2d example of docs/autograd.md", "[ops][conv2d]") {
  AlgorithmGuard rotated(Conv2dAlgorithm::rotated);
  Tensor x = tg::arange(0, 9, 1, {.dtype = tg::kFloat64}).reshape({1, 1, 3, 3});
  Tensor W = Tensor{{0.0, 1.0}, {2.0, 3.0}}.reshape({1, 1, 2, 2});
  Tensor dY = tg::ones({1, 1, 2, 2}, {.dtype = tg::kFloat64});
  Tensor dx = tg::conv2d_backward_input(dY, W, x.shape(), {});
  Tensor dW = tg::conv2d_backward_weight(x, dY, W.shape(), {});
  Tensor by_hand =
      tg::corr2d(Tensor{{0.0, 0.0, 0.0, 0.0}, {0.0, 1.0, 1.0, 0.0}, {0.0, 1.0, 1.0, 0.0}, {0.0, 0.0, 0.0, 0.0}},
                 Tensor{{3.0, 2.0}, {1.0, 0.0}});
  CHECK(allclose(dx, by_hand.reshape({1, 1, 3, 3}), 0, 1e-12));
  CHECK(allclose(dx, Tensor{{0.0, 1.0, 1.0}, {2.0, 6.0, 4.0}, {2.0, 5.0, 3.0}}.reshape({1, 1, 3, 3}), 0, 1e-12));
  CHECK(allclose(dW, Tensor{{8.0, 12.0}, {20.0, 24.0}}.reshape({1, 1, 2, 2}), 0, 1e-12));
}

// Stride 2, padding 1 and two output channels, written out step by step:
//   D[o]  = dY[0, o] dilated by the stride (a zero between neighbours)       [5, 5]
//   dXp   = sum_o corr2d(pad(D[o], 1, 1), rot180(W[o, 0]))                     [6, 6]
//   dx    = dXp without its border of 1                                        [4, 4]
//   dW[o] = corr2d(pad(x, 1, 1), D[o])                                         [2, 2]
TEST_CASE("rotated conv2d's gradients are the corr2d compositions, written out by hand", "[ops][conv2d]") {
  AlgorithmGuard rotated(Conv2dAlgorithm::rotated);
  const Conv2dOptions options{.stride = {2, 2}, .padding = {1, 1}};
  Tensor X = Tensor{{1.0, -2.0, 0.5, 3.0}, {0.0, 4.0, -1.0, 2.0}, {2.5, 1.0, -3.0, 0.0}, {1.0, 0.0, 2.0, -1.5}};
  Tensor W0 = Tensor{{1.0, 2.0}, {3.0, 4.0}}, W1 = Tensor{{0.0, -1.0}, {1.0, 0.5}};
  Tensor rot180_W0 = Tensor{{4.0, 3.0}, {2.0, 1.0}}, rot180_W1 = Tensor{{0.5, 1.0}, {-1.0, 0.0}};
  Tensor dY0 = Tensor{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}, {7.0, 8.0, 9.0}};
  Tensor dY1 = Tensor{{1.0, 0.0, -1.0}, {0.0, 2.0, 0.0}, {-1.0, 0.0, 1.0}};
  Tensor D0 = Tensor{{1.0, 0.0, 2.0, 0.0, 3.0},
                     {0.0, 0.0, 0.0, 0.0, 0.0},
                     {4.0, 0.0, 5.0, 0.0, 6.0},
                     {0.0, 0.0, 0.0, 0.0, 0.0},
                     {7.0, 0.0, 8.0, 0.0, 9.0}};
  Tensor D1 = Tensor{{1.0, 0.0, 0.0, 0.0, -1.0},
                     {0.0, 0.0, 0.0, 0.0, 0.0},
                     {0.0, 0.0, 2.0, 0.0, 0.0},
                     {0.0, 0.0, 0.0, 0.0, 0.0},
                     {-1.0, 0.0, 0.0, 0.0, 1.0}};

  Tensor dXp = tg::corr2d(zero_pad(D0, 1, 1), rot180_W0) + tg::corr2d(zero_pad(D1, 1, 1), rot180_W1);
  REQUIRE(dXp.shape() == tg::Shape{6, 6});
  Tensor dx_by_hand = tg::zeros({1, 1, 4, 4}, {.dtype = tg::kFloat64});
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t j = 0; j < 4; ++j) dx_by_hand.at<double>({0, 0, i, j}) = dXp.at<double>({i + 1, j + 1});
  Tensor dW_by_hand =
      stack({tg::corr2d(zero_pad(X, 1, 1), D0), tg::corr2d(zero_pad(X, 1, 1), D1)}).reshape({2, 1, 2, 2});

  Tensor x = stack({X}).reshape({1, 1, 4, 4});
  Tensor W = stack({W0, W1}).reshape({2, 1, 2, 2});
  Tensor dY = stack({dY0, dY1}).reshape({1, 2, 3, 3});
  CHECK(allclose(tg::conv2d_backward_input(dY, W, x.shape(), options), dx_by_hand, 0, 1e-12));
  CHECK(allclose(tg::conv2d_backward_weight(x, dY, W.shape(), options), dW_by_hand, 0, 1e-12));

  // The same through the tape: conv2d's recorded backward runs the rotated formulation too.
  Tensor xl = x.detach().requires_grad_(), Wl = W.detach().requires_grad_();
  (tg::conv2d(xl, Wl, Tensor(), options) * dY).sum().backward();
  CHECK(allclose(xl.grad(), dx_by_hand, 0, 1e-12));
  CHECK(allclose(Wl.grad(), dW_by_hand, 0, 1e-12));
}

TEST_CASE("set_conv2d_algorithm accepts naive and rotated, and automatic never picks them", "[ops][conv2d]") {
  for (Conv2dAlgorithm a : {Conv2dAlgorithm::naive, Conv2dAlgorithm::rotated}) {
    AlgorithmGuard guard(a);
    CHECK(tg::get_conv2d_algorithm() == a);
  }
  // Summed in other orders, the references differ from gemm and direct in the last bits of
  // float32, so bit-for-bit equality tells which implementation `automatic` ran: direct where it
  // applies (stride 1) and the output is at least 8 wide, gemm elsewhere (stride 2, float64,
  // and a ResNet-like 6-wide output, where direct measured slower).
  tg::Generator gen(97);
  for (const Case& k : {Case{4, 6, 14, 14, 16, 5, 5, {{1, 1}, {0, 0}}}, Case{4, 6, 14, 14, 16, 5, 5, {{2, 2}, {1, 1}}},
                        Case{2, 16, 6, 6, 16, 3, 3, {{1, 1}, {1, 1}}}})
    for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64}) {
      INFO(describe(k) << " dtype " << (dtype == tg::kFloat32 ? "float32" : "float64"));
      Tensor x = tg::test::uniform({k.N, k.C, k.H, k.W}, gen, -1, 1).to(dtype);
      Tensor w = tg::test::uniform({k.O, k.C, k.kh, k.kw}, gen, -1, 1).to(dtype);
      Tensor b = tg::test::uniform({k.O}, gen, -1, 1).to(dtype);
      Tensor G = tg::test::uniform(tg::conv2d(x, w, b, k.options).shape(), gen, -1, 1).to(dtype);
      const bool wide = (k.W + 2 * k.options.padding[1] - k.kw) / k.options.stride[1] + 1 >= 8;
      Conv2dAlgorithm expected = direct_applies(k, dtype) && wide ? Conv2dAlgorithm::direct : Conv2dAlgorithm::gemm;
      Results automatic = run(Conv2dAlgorithm::automatic, x, w, b, G, k.options);
      Results chosen = run(expected, x, w, b, G, k.options);
      INFO("expected automatic to run " << name(expected));
      CHECK(automatic.y.tolist() == chosen.y.tolist());
      CHECK(automatic.dx.tolist() == chosen.dx.tolist());
      CHECK(automatic.dw.tolist() == chosen.dw.tolist());
      for (Conv2dAlgorithm reference : {Conv2dAlgorithm::naive, Conv2dAlgorithm::rotated}) {
        INFO("reference " << name(reference));
        Results r = run(reference, x, w, b, G, k.options);
        CHECK(allclose(r.y, automatic.y, 1e-4, 1e-4));
        if (wide) CHECK(r.dw.tolist() != automatic.dw.tolist());  // a short sum may round alike
      }
      if (direct_applies(k, dtype) && !wide) {  // the narrow output: not direct's numbers
        Results direct = run(Conv2dAlgorithm::direct, x, w, b, G, k.options);
        CHECK((direct.dx.tolist() != automatic.dx.tolist() || direct.dw.tolist() != automatic.dw.tolist()));
      }
    }
}
