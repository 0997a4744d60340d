// SPDX-License-Identifier: MIT
// corr2d and its two backward halves (ops/corr2d.cpp), checked against loops written
// straight from the definitions:
//   Y[i, j]  = sum_{a, b} X[i + a, j + b] K[a, b]
//   dK[a, b] = sum_{i, j} dY[i, j] X[i + a, j + b]
//   dX[p, q] = sum_{a, b} dY[p - a, q - b] K[a, b]   (terms outside dY are zero)
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>

#include "framework/ops/op_test_util.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::MessageContains;

namespace {

// Y = corr2d(X, K) by the 4-loop of the definition, in float64.
Tensor naive_corr2d(const Tensor& X, const Tensor& K) {
  std::int64_t kh = K.size(0), kw = K.size(1), oh = X.size(0) - kh + 1, ow = X.size(1) - kw + 1;
  Tensor Y = tg::zeros({oh, ow}, {.dtype = tg::kFloat64});
  for (std::int64_t i = 0; i < oh; ++i)
    for (std::int64_t j = 0; j < ow; ++j)
      for (std::int64_t a = 0; a < kh; ++a)
        for (std::int64_t b = 0; b < kw; ++b)
          Y.at<double>({i, j}) += X.at<double>({i + a, j + b}) * K.at<double>({a, b});
  return Y;
}

// dX = the full convolution of dY with K, by the 4-loop of its definition: every dY[i, j]
// sends dY[i, j] K[a, b] to the X[i + a, j + b] it was computed from.
Tensor naive_full_convolution(const Tensor& dY, const Tensor& K) {
  std::int64_t kh = K.size(0), kw = K.size(1), oh = dY.size(0), ow = dY.size(1);
  Tensor dX = tg::zeros({oh + kh - 1, ow + kw - 1}, {.dtype = tg::kFloat64});
  for (std::int64_t i = 0; i < oh; ++i)
    for (std::int64_t j = 0; j < ow; ++j)
      for (std::int64_t a = 0; a < kh; ++a)
        for (std::int64_t b = 0; b < kw; ++b)
          dX.at<double>({i + a, j + b}) += dY.at<double>({i, j}) * K.at<double>({a, b});
  return dX;
}

struct Corr2dShapes {
  Shape input, kernel;
};

// Random inputs up to 7 x 7 with kernels that fit, plus the edge cases 1 x 1 and full-size kernels.
std::vector<Corr2dShapes> corr2d_shapes(tg::Generator& gen) {
  std::vector<Corr2dShapes> shapes = {
      {{3, 3}, {2, 2}}, {{4, 5}, {1, 1}}, {{3, 4}, {3, 4}}, {{1, 6}, {1, 2}}, {{6, 1}, {3, 1}}};
  for (int i = 0; i < 8; ++i) {
    auto h = tg::test::random_int(gen, 1, 7), w = tg::test::random_int(gen, 1, 7);
    shapes.push_back({{h, w}, {tg::test::random_int(gen, 1, h), tg::test::random_int(gen, 1, w)}});
  }
  return shapes;
}

}  // namespace

TEST_CASE("corr2d passes gradcheck on random input and kernel shapes", "[ops][corr2d][gradcheck]") {
  tg::Generator gen(71);
  for (const auto& [input, kernel] : corr2d_shapes(gen)) {
    INFO("X " << input.str() << " K " << kernel.str());
    Tensor X = tg::test::uniform(input, gen, -2, 2), K = tg::test::uniform(kernel, gen, -2, 2);
    auto result = tg::gradcheck([](const std::vector<Tensor>& v) { return tg::corr2d(v[0], v[1]); }, {X, K});
    INFO(result.message);
    REQUIRE(result.ok);
  }
}

TEST_CASE("corr2d's backward halves are its adjoints: <corr2d(X, K), dY> = <X, dX> = <K, dK>", "[ops][corr2d]") {
  tg::Generator gen(72);
  auto inner = [](const Tensor& a, const Tensor& b) { return (a * b).sum().item<double>(); };
  for (const auto& [input, kernel] : corr2d_shapes(gen)) {
    INFO("X " << input.str() << " K " << kernel.str());
    Tensor X = tg::test::uniform(input, gen, -2, 2), K = tg::test::uniform(kernel, gen, -2, 2);
    Tensor dY = tg::test::uniform({input[0] - kernel[0] + 1, input[1] - kernel[1] + 1}, gen, -2, 2);
    Tensor dX = tg::corr2d_backward_input(dY, K), dK = tg::corr2d_backward_kernel(X, dY);
    REQUIRE(dX.shape() == input);
    REQUIRE(dK.shape() == kernel);
    double forward = inner(tg::corr2d(X, K), dY);
    CHECK(inner(X, dX) == Approx(forward).epsilon(1e-12).margin(1e-12));
    CHECK(inner(K, dK) == Approx(forward).epsilon(1e-12).margin(1e-12));
  }
}

TEST_CASE("corr2d's backward halves are ops: they record when an argument requires grad", "[ops][corr2d][tape]") {
  // A backward with create_graph calls them with grad mode on; a plain backward runs them with
  // it off, where they are the kernels they always were.
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor dY = tg::ones({2, 2}, {.requires_grad = true}), K = tg::ones({2, 2}, {.requires_grad = true});
  CHECK_FALSE(tg::corr2d_backward_input(tg::ones({2, 2}), tg::ones({2, 2})).requires_grad());
  {
    tg::NoGradGuard no_grad;
    CHECK_FALSE(tg::corr2d_backward_input(dY, K).requires_grad());
  }
  CHECK(tape.size() == 0);
  CHECK(tg::corr2d_backward_input(dY, K).requires_grad());
  CHECK(tg::test::op_name() == "corr2d_backward_input");
  CHECK(tg::corr2d_backward_kernel(tg::ones({3, 3}), dY).requires_grad());
  CHECK(tg::test::op_name() == "corr2d_backward_kernel");
  CHECK(tape.size() == 2);
  tape.clear();
}

TEST_CASE("a backward with create_graph records corr2d's halves; a plain one records nothing", "[ops][corr2d][tape]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor X = tg::ones({3, 4}, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor K = tg::ones({2, 2}, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor Y = tg::corr2d(X, K);
  Tensor L = (Y * Y).sum();
  std::vector<Tensor> g = tg::grad({L}, {X, K}, {.retain_graph = true});
  CHECK_FALSE(g[0].requires_grad());
  g = tg::grad({L}, {X, K}, {.create_graph = true});
  CHECK(g[0].requires_grad());
  CHECK(g[1].requires_grad());
  std::vector<std::string> names;
  for (std::size_t i = 0; i < tape.size(); ++i) names.emplace_back(tape.entry(i).op->name);
  CHECK(std::count(names.begin(), names.end(), "corr2d_backward_input") == 1);
  CHECK(std::count(names.begin(), names.end(), "corr2d_backward_kernel") == 1);
  tape.clear();
}

TEST_CASE("corr2d and its halves pass gradgradcheck on random shapes", "[ops][corr2d][gradgradcheck]") {
  tg::Generator gen(74);
  for (const auto& [input, kernel] : corr2d_shapes(gen)) {
    INFO("X " << input.str() << " K " << kernel.str());
    Tensor X = tg::test::uniform(input, gen, -2, 2), K = tg::test::uniform(kernel, gen, -2, 2);
    Tensor dY = tg::test::uniform({input[0] - kernel[0] + 1, input[1] - kernel[1] + 1}, gen, -2, 2);
    auto forward = [](const std::vector<Tensor>& v) { return tg::corr2d(v[0], v[1]); };
    auto input_half = [](const std::vector<Tensor>& v) { return tg::corr2d_backward_input(v[0], v[1]); };
    auto kernel_half = [](const std::vector<Tensor>& v) { return tg::corr2d_backward_kernel(v[0], v[1]); };
    for (const auto& [name, f, args] :
         {std::tuple{"corr2d", tg::TensorFunction(forward), std::vector<Tensor>{X, K}},
          std::tuple{"corr2d_backward_input", tg::TensorFunction(input_half), std::vector<Tensor>{dY, K}},
          std::tuple{"corr2d_backward_kernel", tg::TensorFunction(kernel_half), std::vector<Tensor>{X, dY}}}) {
      INFO(name);
      tg::test::check_first_and_second(f, args);
    }
  }
}

TEST_CASE("the Hessian of sum((corr2d(X, K) - Z)^2) in K is twice the Gram matrix of X's patches",
          "[ops][corr2d][gradgradcheck]") {
  // d2L / dK[a, b] dK[a', b'] = 2 sum_{i, j} X[i + a, j + b] X[i + a', j + b'], whatever K and Z.
  tg::Generator gen(75);
  for (const auto& [input, kernel] : corr2d_shapes(gen)) {
    INFO("X " << input.str() << " K " << kernel.str());
    Tensor X = tg::test::uniform(input, gen, -2, 2);
    Tensor K = tg::test::uniform(kernel, gen, -2, 2).requires_grad_();
    std::int64_t kh = kernel[0], kw = kernel[1], oh = input[0] - kh + 1, ow = input[1] - kw + 1;
    Tensor Z = tg::test::uniform({oh, ow}, gen, -2, 2);
    Tensor R = tg::corr2d(X, K) - Z;
    Tensor L = (R * R).sum();
    Tensor dK = tg::grad({L}, {K}, {.create_graph = true})[0];
    REQUIRE(dK.requires_grad());
    for (std::int64_t a2 = 0; a2 < kh; ++a2)
      for (std::int64_t b2 = 0; b2 < kw; ++b2) {
        // Row (a', b') of the Hessian: the gradient of dK[a', b'].
        Tensor pick = tg::zeros(kernel, {.dtype = tg::kFloat64});
        pick.at<double>({a2, b2}) = 1;
        Tensor row = tg::grad({dK}, {K}, {.grad_outputs = {pick}, .retain_graph = true})[0];
        for (std::int64_t a = 0; a < kh; ++a)
          for (std::int64_t b = 0; b < kw; ++b) {
            double gram = 0;
            for (std::int64_t i = 0; i < oh; ++i)
              for (std::int64_t j = 0; j < ow; ++j)
                gram += X.at<double>({i + a, j + b}) * X.at<double>({i + a2, j + b2});
            CHECK(row.at<double>({a, b}) == Approx(2 * gram).epsilon(1e-12).margin(1e-12));
          }
      }
  }
}

TEST_CASE("corr2d's mixed second derivative: d/dX <corr2d(X, dY'), V> = the full convolution of dY' with V",
          "[ops][corr2d][gradgradcheck]") {
  // L = <corr2d(X, K), W>: dL/dK = corr2d(X, W), and d <dL/dK, V> / dX = corr2d_backward_input(W, V),
  // the full convolution of W with V; d <dL/dX, U> / dK = corr2d(U, W).
  tg::Generator gen(76);
  for (const auto& [input, kernel] : corr2d_shapes(gen)) {
    INFO("X " << input.str() << " K " << kernel.str());
    Tensor X = tg::test::uniform(input, gen, -2, 2).requires_grad_();
    Tensor K = tg::test::uniform(kernel, gen, -2, 2).requires_grad_();
    Tensor W = tg::test::uniform({input[0] - kernel[0] + 1, input[1] - kernel[1] + 1}, gen, -2, 2);
    Tensor V = tg::test::uniform(kernel, gen, -2, 2), U = tg::test::uniform(input, gen, -2, 2);
    std::vector<Tensor> g = tg::grad({(tg::corr2d(X, K) * W).sum()}, {X, K}, {.create_graph = true});
    Tensor dX = tg::grad({(g[1] * V).sum()}, {X}, {.retain_graph = true})[0];
    CHECK(allclose(dX, naive_full_convolution(W, V), 1e-12, 1e-12));
    Tensor dK = tg::grad({(g[0] * U).sum()}, {K})[0];
    CHECK(allclose(dK, naive_corr2d(U, W), 1e-12, 1e-12));
  }
}

TEST_CASE("corr2d equals the 4-loop of its definition", "[ops][corr2d]") {
  tg::Generator gen(73);
  for (const auto& [input, kernel] : corr2d_shapes(gen)) {
    INFO("X " << input.str() << " K " << kernel.str());
    Tensor X = tg::test::uniform(input, gen, -2, 2), K = tg::test::uniform(kernel, gen, -2, 2);
    CHECK(allclose(tg::corr2d(X, K), naive_corr2d(X, K), 1e-12, 1e-13));
    // float32 inputs give a float32 result with the same values.
    Tensor Y32 = tg::corr2d(X.to(tg::kFloat32), K.to(tg::kFloat32));
    CHECK(Y32.dtype() == tg::kFloat32);
    CHECK(allclose(Y32, naive_corr2d(X, K), 1e-4, 1e-5));
  }
}

// ops/corr2d_loops.hpp runs short output rows as one flat span (Note [flat rows]) and the
// rest row by row; both must give the definition's values on either side of the switch.
TEST_CASE("corr2d's loops agree with the definition for short and long rows, small and large outputs",
          "[ops][corr2d]") {
  tg::Generator gen(79);
  const std::vector<Corr2dShapes> shapes = {
      {{6, 8}, {1, 2}},   {{6, 8}, {6, 7}},   {{5, 33}, {2, 2}},  {{5, 34}, {2, 3}}, {{40, 31}, {3, 3}},
      {{33, 32}, {1, 1}}, {{34, 31}, {2, 1}}, {{3, 40}, {3, 39}}, {{2, 9}, {1, 9}},  {{9, 2}, {9, 1}}};
  for (const auto& [input, kernel] : shapes) {
    INFO("X " << input.str() << " K " << kernel.str());
    Tensor X = tg::test::uniform(input, gen, -2, 2), K = tg::test::uniform(kernel, gen, -2, 2);
    CHECK(allclose(tg::corr2d(X, K), naive_corr2d(X, K), 1e-12, 1e-13));
    CHECK(allclose(tg::corr2d(X.to(tg::kFloat32), K.to(tg::kFloat32)), naive_corr2d(X, K), 1e-4, 1e-5));
  }
}

// The flat span also computes values from beyond a row's window, which it drops: an infinity
// at the end of a row must reach only the outputs whose windows hold it.
TEST_CASE("corr2d: a non-finite input reaches only the outputs whose windows hold it", "[ops][corr2d]") {
  Tensor X = tg::ones({6, 8});
  X.at<float>({0, 7}) = std::numeric_limits<float>::infinity();
  Tensor Y = tg::corr2d(X, Tensor{{1.0, 2.0}});
  for (std::int64_t i = 0; i < 6; ++i)
    for (std::int64_t j = 0; j < 7; ++j) {
      INFO("Y[" << i << ", " << j << "]");
      if (i == 0 && j == 6)
        CHECK(std::isinf(Y.at<float>({i, j})));
      else
        CHECK(Y.at<float>({i, j}) == 3.0f);
    }
}

TEST_CASE("corr2d's gradients are dK = corr2d(X, dY) and dX = the full convolution of dY with K", "[ops][corr2d]") {
  tg::Generator gen(74);
  for (const auto& [input, kernel] : corr2d_shapes(gen)) {
    INFO("X " << input.str() << " K " << kernel.str());
    Tensor X = tg::test::uniform(input, gen, -2, 2).requires_grad_();
    Tensor K = tg::test::uniform(kernel, gen, -2, 2).requires_grad_();
    Tensor Y = tg::corr2d(X, K);
    Tensor dY = tg::test::uniform(Y.shape(), gen, -2, 2);
    Y.backward(dY);
    Tensor expected_dK = naive_corr2d(X.detach(), dY), expected_dX = naive_full_convolution(dY, K.detach());
    CHECK(allclose(K.grad(), expected_dK, 1e-12, 1e-13));
    CHECK(allclose(X.grad(), expected_dX, 1e-12, 1e-13));
    // The named halves compute the same thing on their own.
    CHECK(allclose(tg::corr2d_backward_kernel(X.detach(), dY), expected_dK, 1e-12, 1e-13));
    CHECK(allclose(tg::corr2d_backward_input(dY, K.detach()), expected_dX, 1e-12, 1e-13));
  }
}

TEST_CASE("corr2d's gradients on the notebook's 3x3 by 2x2 example", "[ops][corr2d]") {
  Tensor X = Tensor{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}}.requires_grad_();
  Tensor K = Tensor{{0, 1}, {2, 3}}.requires_grad_();
  Tensor Y = tg::corr2d(X, K);
  CHECK(allclose(Y, Tensor{{19, 25}, {37, 43}}, 0, 0));
  Y.sum().backward();
  // dK[a, b] = the sum of the 2x2 window of X that K[a, b] multiplies.
  CHECK(allclose(K.grad(), Tensor{{8, 12}, {20, 24}}, 0, 0));
  // dX[p, q] = the sum of the kernel entries that touch X[p, q].
  CHECK(allclose(X.grad(), Tensor{{0, 1, 1}, {2, 6, 4}, {2, 5, 3}}, 0, 0));

  // With a one-hot dY, dX is K placed at that output's window and dK is that window of X.
  X.set_grad(Tensor());
  K.set_grad(Tensor());
  tg::corr2d(X, K).backward(Tensor{{0, 0}, {0, 1}});
  CHECK(allclose(X.grad(), Tensor{{0, 0, 0}, {0, 0, 1}, {0, 2, 3}}, 0, 0));
  CHECK(allclose(K.grad(), Tensor{{4, 5}, {7, 8}}, 0, 0));
}

TEST_CASE("corr2d promotes mixed dtypes, and each gradient keeps its input's dtype", "[ops][corr2d][dtype]") {
  Tensor X = tg::ones({3, 3}, {.requires_grad = true});
  Tensor K = tg::ones({2, 2}, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor Y = tg::corr2d(X, K);
  REQUIRE(Y.dtype() == tg::kFloat64);
  CHECK(allclose(Y, tg::full({2, 2}, 4), 0, 0));
  Y.sum().backward();
  CHECK(X.grad().dtype() == tg::kFloat32);
  CHECK(K.grad().dtype() == tg::kFloat64);
  CHECK(allclose(X.grad(), Tensor{{1, 2, 1}, {2, 4, 2}, {1, 2, 1}}, 0, 0));
  CHECK(allclose(K.grad(), tg::full({2, 2}, 4), 0, 0));
  CHECK(tg::corr2d_backward_input(tg::ones({2, 2}), tg::ones({2, 2}, {.dtype = tg::kFloat64})).dtype() == tg::kFloat64);
  CHECK(tg::corr2d_backward_kernel(tg::ones({3, 3}, {.dtype = tg::kFloat64}), tg::ones({2, 2})).dtype() ==
        tg::kFloat64);
}

TEST_CASE("corr2d records only when needed and sends gradients only where required", "[ops][corr2d][tape]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor X = tg::ones({4, 4}), K = tg::ones({2, 2});
  CHECK_FALSE(tg::corr2d(X, K).requires_grad());
  CHECK(tape.size() == 0);
  K.requires_grad_();
  {
    tg::NoGradGuard no_grad;
    CHECK_FALSE(tg::corr2d(X, K).requires_grad());
    CHECK(tape.size() == 0);
  }
  Tensor Y = tg::corr2d(X, K);
  REQUIRE(tape.size() == 1);
  CHECK(tg::test::op_name() == "corr2d");
  Y.sum().backward();
  CHECK_FALSE(X.grad().defined());
  CHECK(allclose(K.grad(), tg::full({2, 2}, 9), 0, 0));

  Tensor image = tg::ones({4, 4}, {.requires_grad = true});
  tg::corr2d(image, tg::ones({3, 3})).sum().backward();
  CHECK(allclose(image.grad(), Tensor{{1, 2, 2, 1}, {2, 4, 4, 2}, {2, 4, 4, 2}, {1, 2, 2, 1}}, 0, 0));
  tape.clear();
}

TEST_CASE("corr2d rejects kernels larger than the input, naming both shapes", "[ops][corr2d][errors]") {
  CHECK_THROWS_MATCHES(tg::corr2d(tg::ones({2, 5}), tg::ones({3, 3})), tg::ShapeError,
                       MessageContains({"corr2d", "[3, 3]", "[2, 5]", "larger"}));
  CHECK_THROWS_MATCHES(tg::corr2d(tg::ones({5, 2}), tg::ones({1, 3})), tg::ShapeError,
                       MessageContains({"corr2d", "[1, 3]", "[5, 2]", "larger"}));
  CHECK_THROWS_MATCHES(tg::corr2d(tg::ones({3, 3}), tg::ones({0, 2})), tg::ShapeError,
                       MessageContains({"corr2d", "[0, 2]", "empty"}));
  CHECK_THROWS_MATCHES(tg::corr2d_backward_kernel(tg::ones({3, 3}), tg::ones({4, 2})), tg::ShapeError,
                       MessageContains({"corr2d_backward_kernel", "[4, 2]", "[3, 3]"}));
}

TEST_CASE("corr2d and its backward halves reject operands that are not 2-D", "[ops][corr2d][errors]") {
  CHECK_THROWS_MATCHES(tg::corr2d(tg::ones({2, 3, 3}), tg::ones({2, 2})), tg::ShapeError,
                       MessageContains({"corr2d", "input X", "[2, 3, 3]", "2-D"}));
  CHECK_THROWS_MATCHES(tg::corr2d(tg::ones({3, 3}), tg::ones({2})), tg::ShapeError,
                       MessageContains({"corr2d", "kernel K", "[2]", "2-D"}));
  CHECK_THROWS_MATCHES(tg::corr2d(tg::scalar(1), tg::scalar(1)), tg::ShapeError,
                       MessageContains({"corr2d", "[]", "2-D"}));
  CHECK_THROWS_MATCHES(tg::corr2d_backward_input(tg::ones({1, 2, 2}), tg::ones({2, 2})), tg::ShapeError,
                       MessageContains({"corr2d_backward_input", "dY", "[1, 2, 2]"}));
  CHECK_THROWS_MATCHES(tg::corr2d_backward_input(tg::ones({2, 2}), tg::ones({4})), tg::ShapeError,
                       MessageContains({"corr2d_backward_input", "K", "[4]"}));
  CHECK_THROWS_MATCHES(tg::corr2d_backward_kernel(tg::ones({3}), tg::ones({2, 2})), tg::ShapeError,
                       MessageContains({"corr2d_backward_kernel", "X", "[3]"}));
  CHECK_THROWS_MATCHES(tg::corr2d_backward_kernel(tg::ones({3, 3}), tg::ones({2, 2, 1})), tg::ShapeError,
                       MessageContains({"corr2d_backward_kernel", "dY", "[2, 2, 1]"}));
}
