// SPDX-License-Identifier: MIT
// batch_norm and dropout (ops/normalization.cpp): gradcheck, closed forms, loops written
// from the definitions, PyTorch's values (scripts/fixtures/normalization.py) and errors.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/ops/normalization.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::MessageContains;

namespace {

Tensor load(const std::string& name) { return tg::load_npy(tg::test::fixture("torch/normalization/" + name + ".npy")); }

// t[i] of a fixture whose first dim indexes training steps.
Tensor step(const Tensor& t, std::int64_t i) { return tg::test::index0(t, i); }

// batch_norm by its definition, one channel at a time, in float64: y, and the statistics.
struct Reference {
  Tensor y;
  std::vector<double> mean, var;  // batch mean and biased variance per channel
};

Reference batch_norm_by_hand(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  std::int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  std::vector<double> v = x.tolist(), y(v.size());
  std::vector<double> mean(static_cast<std::size_t>(C)), var(static_cast<std::size_t>(C));
  auto at = [&](std::int64_t n, std::int64_t c, std::int64_t s) {
    return static_cast<std::size_t>((n * C + c) * S + s);
  };
  for (std::int64_t c = 0; c < C; ++c) {
    double sum = 0, sq = 0;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t s = 0; s < S; ++s) sum += v[at(n, c, s)];
    double m = sum / static_cast<double>(N * S);
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t s = 0; s < S; ++s) sq += (v[at(n, c, s)] - m) * (v[at(n, c, s)] - m);
    double var_c = sq / static_cast<double>(N * S);
    double w = weight.defined() ? weight.tolist()[static_cast<std::size_t>(c)] : 1;
    double b = bias.defined() ? bias.tolist()[static_cast<std::size_t>(c)] : 0;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t s = 0; s < S; ++s) y[at(n, c, s)] = (v[at(n, c, s)] - m) / std::sqrt(var_c + eps) * w + b;
    mean[static_cast<std::size_t>(c)] = m;
    var[static_cast<std::size_t>(c)] = var_c;
  }
  return {tg::from_vector(y, x.shape(), {.dtype = tg::kFloat64}), mean, var};
}

// Random [N, C] or [N, C, H, W] shapes with N * H * W >= 2 (training needs 2 values per channel).
std::vector<Shape> batch_norm_shapes(tg::Generator& gen) {
  std::vector<Shape> shapes = {{2, 1}, {5, 3}, {2, 2, 1, 1}, {1, 2, 3, 2}, {3, 2, 2, 3}};
  for (int i = 0; i < 4; ++i) {
    auto N = tg::test::random_int(gen, 2, 4), C = tg::test::random_int(gen, 1, 3);
    shapes.push_back(i % 2 ? Shape{N, C}
                           : Shape{N, C, tg::test::random_int(gen, 1, 3), tg::test::random_int(gen, 1, 3)});
  }
  return shapes;
}

}  // namespace

TEST_CASE("batch_norm passes gradcheck in training mode, 2-D and 4-D, with and without affine",
          "[ops][batchnorm][gradcheck]") {
  tg::Generator gen(301);
  for (const Shape& shape : batch_norm_shapes(gen)) {
    for (bool affine : {true, false}) {
      INFO("x " << shape.str() << (affine ? " affine" : " no affine"));
      Tensor x = tg::test::uniform(shape, gen, -2, 3);
      Tensor w = tg::test::uniform({shape[1]}, gen, 0.5, 2), b = tg::test::uniform({shape[1]}, gen, -1, 1);
      Tensor running_mean = tg::zeros({shape[1]}), running_var = tg::ones({shape[1]});
      auto f = [&](const std::vector<Tensor>& v) {
        return affine ? tg::batch_norm(v[0], running_mean, running_var, v[1], v[2], true)
                      : tg::batch_norm(v[0], running_mean, running_var, Tensor(), Tensor(), true);
      };
      auto result = affine ? tg::gradcheck(f, {x, w, b}) : tg::gradcheck(f, {x});
      INFO(result.message);
      REQUIRE(result.ok);
    }
  }
}

TEST_CASE("batch_norm passes gradcheck in eval mode, 2-D and 4-D, with and without affine",
          "[ops][batchnorm][gradcheck]") {
  tg::Generator gen(302);
  for (const Shape& shape : batch_norm_shapes(gen)) {
    for (bool affine : {true, false}) {
      INFO("x " << shape.str() << (affine ? " affine" : " no affine"));
      Tensor x = tg::test::uniform(shape, gen, -2, 3);
      Tensor w = tg::test::uniform({shape[1]}, gen, 0.5, 2), b = tg::test::uniform({shape[1]}, gen, -1, 1);
      Tensor running_mean = tg::test::uniform({shape[1]}, gen, -1, 1);
      Tensor running_var = tg::test::uniform({shape[1]}, gen, 0.5, 2);
      auto f = [&](const std::vector<Tensor>& v) {
        return affine ? tg::batch_norm(v[0], running_mean, running_var, v[1], v[2], false)
                      : tg::batch_norm(v[0], running_mean, running_var, Tensor(), Tensor(), false);
      };
      auto result = affine ? tg::gradcheck(f, {x, w, b}) : tg::gradcheck(f, {x});
      INFO(result.message);
      REQUIRE(result.ok);
    }
  }
}

TEST_CASE("batch_norm: a 2-sample closed form, and the running-statistics update", "[ops][batchnorm]") {
  // Channel 0 holds {1, 3}: mean 2, biased var 1, unbiased var 2. Channel 1 holds {10, 30}:
  // mean 20, biased var 100, unbiased var 200. With eps = 0, xhat = [[-1, -1], [1, 1]].
  Tensor x = Tensor{{1, 10}, {3, 30}}.requires_grad_();
  Tensor w = Tensor{2, 3}.requires_grad_(), b = Tensor{0.5, -1}.requires_grad_();
  Tensor running_mean = tg::zeros({2}), running_var = tg::ones({2});
  Tensor y = tg::batch_norm(x, running_mean, running_var, w, b, true, 0.1, 0);
  CHECK(allclose(y, Tensor{{-1.5, -4}, {2.5, 2}}));
  CHECK(allclose(running_mean, Tensor{0.2, 2}));              // 0.9 * 0 + 0.1 * mean
  CHECK(allclose(running_var, Tensor{0.9 + 0.2, 0.9 + 20}));  // 0.9 * 1 + 0.1 * unbiased var
  (y * Tensor{{1, 0}, {0, 0}}).sum().backward();
  CHECK(allclose(b.grad(), Tensor{1, 0}));   // sum(G)
  CHECK(allclose(w.grad(), Tensor{-1, 0}));  // sum(G xhat)
  // dx = w invstd (G - sum(G) / M - xhat sum(G xhat) / M) = 2 (G - 1/2 + xhat / 2) = 0 on channel 0: with
  // M = 2, xhat = -1, 1 whatever x is, so y cannot depend on x.
  CHECK(allclose(x.grad(), Tensor{{0, 0}, {0, 0}}, 1e-5, 1e-6));
}

TEST_CASE("batch_norm equals its definition; each channel comes out with mean 0 and variance 1", "[ops][batchnorm]") {
  tg::Generator gen(303);
  for (const Shape& shape : batch_norm_shapes(gen)) {
    INFO("x " << shape.str());
    Tensor x = tg::test::uniform(shape, gen, -5, 9), w = tg::test::uniform({shape[1]}, gen, 0.5, 2);
    Tensor b = tg::test::uniform({shape[1]}, gen, -1, 1);
    Reference want = batch_norm_by_hand(x, w, b, 1e-5);
    Tensor running_mean = tg::zeros({shape[1]}, {.dtype = tg::kFloat64}), running_var = tg::ones({shape[1]});
    CHECK(allclose(tg::batch_norm(x, running_mean, running_var, w, b, true), want.y, 1e-12, 1e-12));
    double M = static_cast<double>(x.numel() / shape[1]);
    for (std::int64_t c = 0; c < shape[1]; ++c) {
      auto i = static_cast<std::size_t>(c);
      CHECK(running_mean.at<double>({c}) == Approx(0.1 * want.mean[i]).margin(1e-12));
      CHECK(running_var.at({c}) == Approx(0.9 + 0.1 * want.var[i] * M / (M - 1)).epsilon(1e-6));
    }
    // Without affine, y is xhat: per channel mean 0 and biased variance var / (var + eps) ~ 1.
    Reference normalised =
        batch_norm_by_hand(tg::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true), Tensor(), Tensor(), 0);
    for (std::size_t c = 0; c < normalised.mean.size(); ++c) {
      CHECK(normalised.mean[c] == Approx(0).margin(1e-12));
      CHECK(normalised.var[c] == Approx(want.var[c] / (want.var[c] + 1e-5)).epsilon(1e-9));
    }
  }
}

TEST_CASE("batch_norm in eval mode uses the running statistics and leaves them alone", "[ops][batchnorm]") {
  Tensor x = Tensor{{1, 2}, {3, 6}, {5, 4}}.requires_grad_();
  Tensor running_mean = Tensor{1, -1}, running_var = Tensor{4, 0.25};
  Tensor w = Tensor{2, 1}.requires_grad_(), b = Tensor{0, 1}.requires_grad_();
  Tensor y = tg::batch_norm(x, running_mean, running_var, w, b, false, 0.1, 0);
  // y = (x - running_mean) / sqrt(running_var) * w + b
  CHECK(allclose(y, Tensor{{0, 7}, {2, 15}, {4, 11}}));
  CHECK(allclose(running_mean, Tensor{1, -1}, 0, 0));
  CHECK(allclose(running_var, Tensor{4, 0.25}, 0, 0));
  y.sum().backward();
  CHECK(allclose(x.grad(), Tensor{{1, 2}, {1, 2}, {1, 2}}));  // w / sqrt(running_var)
  CHECK(allclose(w.grad(), Tensor{3, 30}));                   // sum((x - mean) / sqrt(var))
  CHECK(allclose(b.grad(), Tensor{3, 3}));
}

TEST_CASE("batch_norm matches torch: 3 training steps with running statistics, then eval", "[ops][batchnorm][torch]") {
  struct Case {
    std::string name;
    bool affine;
    double momentum, eps;
  };
  for (const Case& c :
       {Case{"bn2d", true, 0.1, 1e-5}, Case{"bn1d", true, 0.3, 1e-3}, Case{"bn1d_noaffine", false, 0.1, 1e-5}}) {
    INFO(c.name);
    Tensor w = c.affine ? load(c.name + "_weight").requires_grad_() : Tensor();
    Tensor b = c.affine ? load(c.name + "_bias").requires_grad_() : Tensor();
    Tensor train_x = load(c.name + "_train_x"), train_G = load(c.name + "_train_G");
    std::int64_t C = train_x.size(2);
    Tensor running_mean = tg::zeros({C}), running_var = tg::ones({C});
    auto run = [&](const std::string& prefix, Tensor x, const Tensor& G, bool training, int i) {
      auto want = [&](const std::string& what) {
        Tensor t = load(prefix + what);
        return i >= 0 ? step(t, i) : t;
      };
      x.requires_grad_();
      if (c.affine) {
        w.set_grad(Tensor());
        b.set_grad(Tensor());
      }
      Tensor y = tg::batch_norm(x, running_mean, running_var, w, b, training, c.momentum, c.eps);
      CHECK(allclose(y, want("y"), 1e-5, 1e-5));
      (y * G).sum().backward();
      CHECK(allclose(x.grad(), want("dx"), 1e-4, 1e-5));
      if (c.affine) {
        CHECK(allclose(w.grad(), want("dweight"), 1e-4, 1e-5));
        CHECK(allclose(b.grad(), want("dbias"), 1e-5, 1e-5));
      }
    };
    for (int i = 0; i < 3; ++i) {
      INFO("training step " << i);
      run(c.name + "_train_", step(train_x, i), step(train_G, i), true, i);
      CHECK(allclose(running_mean, step(load(c.name + "_train_running_mean"), i), 1e-5, 1e-6));
      CHECK(allclose(running_var, step(load(c.name + "_train_running_var"), i), 1e-5, 1e-6));
    }
    run(c.name + "_eval_", load(c.name + "_eval_x"), load(c.name + "_eval_G"), false, -1);
  }
}

TEST_CASE("batch_norm records only when needed, and always updates the running statistics", "[ops][batchnorm][tape]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor x = Tensor{{1, 2}, {3, 5}}, running_mean = tg::zeros({2}), running_var = tg::ones({2});
  CHECK_FALSE(tg::batch_norm(x, running_mean, running_var, Tensor(), Tensor(), true).requires_grad());
  CHECK(tape.size() == 0);
  CHECK(allclose(running_mean, Tensor{0.2, 0.35}));
  Tensor w = tg::ones({2}, {.requires_grad = true});
  {
    tg::NoGradGuard no_grad;
    CHECK_FALSE(tg::batch_norm(x, running_mean, running_var, w, Tensor(), true).requires_grad());
    CHECK(tape.size() == 0);
    CHECK(allclose(running_mean, Tensor{0.38, 0.665}));  // 0.9 * 0.2 + 0.1 * 2, 0.9 * 0.35 + 0.1 * 3.5
  }
  Tensor y = tg::batch_norm(x, running_mean, running_var, w, Tensor(), true);
  REQUIRE(tape.size() == 1);
  CHECK(tg::test::op_name() == "batch_norm");
  y.backward(Tensor{{1, 0}, {0, 1}});
  CHECK_FALSE(x.grad().defined());
  CHECK(allclose(w.grad(), Tensor{-1, 1}, 1e-4, 1e-5));  // sum(G xhat), xhat = [[-1, -1], [1, 1]]
  tape.clear();
}

TEST_CASE("batch_norm rejects bad ranks, channel mismatches and single-value training batches",
          "[ops][batchnorm][errors]") {
  Tensor rm = tg::zeros({3}), rv = tg::ones({3});
  CHECK_THROWS_MATCHES(tg::batch_norm(tg::ones({1, 3}), rm, rv, Tensor(), Tensor(), true), tg::ValueError,
                       MessageContains({"batch_norm", "more than 1 value per channel", "[1, 3]"}));
  CHECK_THROWS_MATCHES(tg::batch_norm(tg::ones({1, 3, 1, 1}), rm, rv, Tensor(), Tensor(), true), tg::ValueError,
                       MessageContains({"batch_norm", "more than 1 value per channel", "[1, 3, 1, 1]"}));
  CHECK_NOTHROW(tg::batch_norm(tg::ones({1, 3}), rm, rv, Tensor(), Tensor(), false));  // eval needs no batch
  CHECK_THROWS_MATCHES(tg::batch_norm(tg::ones({6}), rm, rv, Tensor(), Tensor(), true), tg::ShapeError,
                       MessageContains({"batch_norm", "[N, C]", "[6]"}));
  CHECK_THROWS_MATCHES(tg::batch_norm(tg::ones({2, 4}), rm, rv, Tensor(), Tensor(), true), tg::ShapeError,
                       MessageContains({"batch_norm", "running_mean", "[3]", "[2, 4]", "C = 4"}));
  CHECK_THROWS_MATCHES(tg::batch_norm(tg::ones({2, 3}), rm, rv, tg::ones({2}), Tensor(), true), tg::ShapeError,
                       MessageContains({"batch_norm", "weight", "[2]", "[2, 3]"}));
  CHECK_THROWS_MATCHES(tg::batch_norm(tg::ones({2, 3}), rm, rv, Tensor(), tg::ones({3, 1}), true), tg::ShapeError,
                       MessageContains({"batch_norm", "bias", "[3, 1]"}));
  CHECK_THROWS_MATCHES(tg::batch_norm(tg::ones({2, 3}), rm, Tensor(), Tensor(), Tensor(), true), tg::ValueError,
                       MessageContains({"batch_norm", "both"}));
  CHECK_THROWS_MATCHES(tg::batch_norm(tg::ones({2, 3}), Tensor(), Tensor(), Tensor(), Tensor(), false), tg::ValueError,
                       MessageContains({"batch_norm", "eval mode", "running_mean"}));
  CHECK(allclose(rm, tg::zeros({3}), 0, 0));  // a rejected call changes nothing
}

TEST_CASE("dropout zeroes a fraction p, scales the rest by 1 / (1 - p) and preserves the mean", "[ops][dropout]") {
  tg::Generator gen(11);
  for (double p : {0.1, 0.5, 0.8}) {
    INFO("p = " << p);
    const std::int64_t n = 100000;
    Tensor y = tg::dropout(tg::ones({n}), p, true, gen);
    std::int64_t zeros = 0, scaled = 0;
    double sum = 0;
    for (double v : y.tolist()) {
      zeros += v == 0;
      scaled += std::abs(v - 1 / (1 - p)) < 1e-6;
      sum += v;
    }
    CHECK(zeros + scaled == n);  // every element is either dropped or scaled
    // The fraction has standard deviation sqrt(p (1 - p) / n) <= 0.0016: 0.01 is over 6 of them.
    CHECK(static_cast<double>(zeros) / n == Approx(p).margin(0.01));
    CHECK(sum / n == Approx(1).margin(0.01 / (1 - p)));
  }
}

TEST_CASE("dropout's gradient is dy * mask / (1 - p), and it passes gradcheck with a fixed mask",
          "[ops][dropout][gradcheck]") {
  tg::Generator gen(12);
  Tensor x = tg::test::away_from_zero({4, 50}, gen, 0.5, 2).requires_grad_();
  Tensor G = tg::test::uniform({4, 50}, gen, -1, 1);
  Tensor y = tg::dropout(x, 0.25, true, gen);
  (y * G).sum().backward();
  std::vector<double> xs = x.detach().tolist(), ys = y.tolist(), gs = G.tolist(), dx = x.grad().tolist();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    double mask = ys[i] == 0 ? 0 : 1;
    CHECK(ys[i] == Approx(xs[i] * mask / 0.75).epsilon(1e-12));
    CHECK(dx[i] == Approx(gs[i] * mask / 0.75).epsilon(1e-12));
  }
  auto result = tg::gradcheck(
      [](const std::vector<Tensor>& v) {
        tg::Generator same(13);  // the same mask on every call
        return tg::dropout(v[0], 0.4, true, same);
      },
      {tg::test::uniform({3, 5}, gen, -2, 2)});
  INFO(result.message);
  CHECK(result.ok);
}

TEST_CASE("dropout masks are reproducible per seed", "[ops][dropout]") {
  tg::Generator a(7), b(7), c(8);
  Tensor x = tg::ones({1000});
  Tensor ya = tg::dropout(x, 0.5, true, a), yb = tg::dropout(x, 0.5, true, b), yc = tg::dropout(x, 0.5, true, c);
  CHECK(allclose(ya, yb, 0, 0));
  CHECK_FALSE(allclose(ya, yc, 0, 0));
  CHECK_FALSE(allclose(ya, tg::dropout(x, 0.5, true, a), 0, 0));  // the generator moves on
}

TEST_CASE("dropout is the identity in eval mode and for p = 0; p = 1 gives zeros", "[ops][dropout]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  tg::Generator gen(9);
  Tensor x = Tensor{1, -2, 3}.requires_grad_();
  CHECK(tg::dropout(x, 0.5, false, gen).impl_ptr() == x.impl_ptr());
  CHECK(tg::dropout(x, 0, true, gen).impl_ptr() == x.impl_ptr());
  CHECK(tape.size() == 0);
  Tensor y = tg::dropout(x, 1, true, gen);
  CHECK(allclose(y, tg::zeros({3}), 0, 0));
  y.sum().backward();
  CHECK(allclose(x.grad(), tg::zeros({3}), 0, 0));
  tape.clear();
}

TEST_CASE("dropout rejects p outside [0, 1]", "[ops][dropout][errors]") {
  tg::Generator gen(1);
  for (double p : {-0.1, 1.5, std::nan("")})
    CHECK_THROWS_MATCHES(tg::dropout(tg::ones({3}), p, true, gen), tg::ValueError,
                         MessageContains({"dropout", "[0, 1]"}));
  CHECK_THROWS_AS(tg::dropout(tg::ones({3}), 2, false, gen), tg::ValueError);  // even in eval mode
}

TEST_CASE("layer_norm: each row to mean 0 and variance 1, then scaled and shifted; gradients by hand",
          "[ops][layer_norm]") {
  Tensor x = tg::from_vector({1, 2, 3, 4, -2, 0, 2, 4}, {2, 4}, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor w = tg::from_vector({1, 2, 1, 0.5}, {4}, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor b = tg::from_vector({0, 0, 1, 0}, {4}, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor y = tg::layer_norm(x, {4}, w, b, 0);
  // row 0: mean 2.5, biased variance 1.25; row 1: mean 1, variance 5
  const double r0 = 1 / std::sqrt(1.25), r1 = 1 / std::sqrt(5.0);
  std::vector<double> want = {-1.5 * r0, 2 * -0.5 * r0, 0.5 * r0 + 1, 0.5 * 1.5 * r0,
                              -3 * r1,   2 * -1 * r1,   1 * r1 + 1,   0.5 * 3 * r1};
  auto got = y.tolist();
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(got[i] == Approx(want[i]));
  y.sum().backward();
  // dbias = column sums of dy = 2; dweight = column sums of xhat
  CHECK(b.grad().tolist() == std::vector<double>{2, 2, 2, 2});
  CHECK(w.grad().tolist()[0] == Approx(-1.5 * r0 - 3 * r1));
  // with dy = 1, dxhat = w; dx = rstd (w - mean(w) - xhat mean(w xhat)), which sums to 0 per row
  auto dx = x.grad().tolist();
  CHECK(dx[0] + dx[1] + dx[2] + dx[3] == Approx(0).margin(1e-12));
  // without weight, the gradient of sum(y) is 0: every row of xhat sums to 0 whatever x is
  Tensor x2 = x.detach().requires_grad_();
  tg::layer_norm(x2, {4}).sum().backward();
  for (double v : x2.grad().tolist()) CHECK(v == Approx(0).margin(1e-12));
}

TEST_CASE("layer_norm normalises over the last dims it is given, as one row each", "[ops][layer_norm]") {
  tg::Generator gen(4);
  Tensor x = tg::randn({2, 3, 4}, gen);
  Tensor over_two = tg::layer_norm(x, {3, 4});
  Tensor flat = tg::layer_norm(x.reshape({2, 12}), {12}).reshape({2, 3, 4});
  CHECK(allclose(over_two, flat));
  Tensor rows = tg::layer_norm(x, {4});
  CHECK(tg::mean(rows, -1).abs().max().item<float>() < 1e-6);
  CHECK(allclose(tg::var(rows, -1, false), tg::ones({2, 3}), 1e-4, 1e-4));  // var / (var + eps)
}

// ---- second derivatives: backward with create_graph records batch_norm, layer_norm and dropout ----

namespace {

// batch_norm in training mode and layer_norm, written with registry ops (their statistics
// are then differentiated by the ops' own derivatives): references for their Hessians.
Tensor batch_norm_composed(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  const Shape channel{1, x.size(1), 1};
  Tensor x3 = x.reshape({x.size(0), x.size(1), -1});
  Tensor centered = x3 - x3.mean(2, true).mean(0, true);
  Tensor y = centered * tg::rsqrt((centered * centered).mean(2, true).mean(0, true) + eps);
  return (y * w.reshape(channel) + b.reshape(channel)).reshape(x.shape());
}

Tensor layer_norm_composed(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  Tensor centered = x - x.mean(-1, true);
  return centered * tg::rsqrt((centered * centered).mean(-1, true) + eps) * w + b;
}

void check_hessians(const tg::TensorFunction& f, const tg::TensorFunction& reference, const std::vector<Tensor>& at) {
  auto got = tg::hessian(f, at), want = tg::hessian(reference, at);
  for (std::size_t i = 0; i < at.size(); ++i)
    for (std::size_t j = 0; j < at.size(); ++j) {
      INFO("H[" << i << "][" << j << "]");
      CHECK(allclose(got[i][j], want[i][j], 1e-8, 1e-10));
    }
}

}  // namespace

TEST_CASE("batch_norm passes gradgradcheck in training and eval mode, 2-D and 4-D, with and without affine",
          "[ops][batchnorm][gradgradcheck]") {
  tg::Generator gen(303);
  for (const Shape& shape : std::vector<Shape>{{4, 3}, {3, 2, 2, 1}, {2, 2, 2, 3}})
    for (bool training : {true, false})
      for (bool affine : {true, false}) {
        INFO("x " << shape.str() << (training ? " training" : " eval") << (affine ? " affine" : " no affine"));
        Tensor x = tg::test::uniform(shape, gen, -2, 3);
        Tensor w = tg::test::uniform({shape[1]}, gen, 0.5, 2), b = tg::test::uniform({shape[1]}, gen, -1, 1);
        Tensor running_mean = tg::test::uniform({shape[1]}, gen, -1, 1);
        Tensor running_var = tg::test::uniform({shape[1]}, gen, 0.5, 2);
        auto f = [&](const std::vector<Tensor>& v) {
          Tensor rm = running_mean.clone(), rv = running_var.clone();  // training updates them
          return affine ? tg::batch_norm(v[0], rm, rv, v[1], v[2], training)
                        : tg::batch_norm(v[0], rm, rv, Tensor(), Tensor(), training);
        };
        auto result = affine ? tg::gradgradcheck(f, {x, w, b}) : tg::gradgradcheck(f, {x});
        INFO(result.message);
        CHECK(result.ok);
      }
}

TEST_CASE("batch_norm in training differentiates through its batch statistics twice",
          "[ops][batchnorm][higher_order]") {
  tg::Generator gen(304);
  Tensor x = tg::test::uniform({3, 2, 2}, gen, -2, 2), c = tg::test::uniform({3, 2, 2}, gen, -1, 1);
  Tensor w = tg::test::uniform({2}, gen, 0.5, 2), b = tg::test::uniform({2}, gen, -1, 1);
  check_hessians(
      [&](const std::vector<Tensor>& v) {
        return (tg::batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true, 0.1, 1e-3) * c).sum();
      },
      [&](const std::vector<Tensor>& v) { return (batch_norm_composed(v[0], v[1], v[2], 1e-3) * c).sum(); }, {x, w, b});
  // With eps = 0, sum(y^2) = C M whatever x is, so its Hessian is 0 (with the statistics held
  // constant it would be 2 invstd^2 I).
  Tensor h = tg::hessian(
      [](const Tensor& t) {
        Tensor y = tg::batch_norm(t, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 0);
        return (y * y).sum();
      },
      x);
  CHECK(allclose(h, tg::zeros({3, 2, 2, 3, 2, 2}, {.dtype = tg::kFloat64}), 0, 1e-9));
}

TEST_CASE("layer_norm passes gradgradcheck over one or two dims, with and without weight and bias",
          "[ops][layer_norm][gradgradcheck]") {
  tg::Generator gen(305);
  for (const Shape& normalized : std::vector<Shape>{{4}, {2, 3}})
    for (int affine = 0; affine < 4; ++affine) {  // bit 0: weight, bit 1: bias
      INFO("normalized_shape " << normalized.str() << " affine " << affine);
      const Shape shape = normalized.rank() == 1 ? Shape{3, 4} : Shape{3, 2, 3};
      std::vector<Tensor> inputs = {tg::test::uniform(shape, gen, -2, 2)};
      if (affine & 1) inputs.push_back(tg::test::uniform(normalized, gen, 0.5, 2));
      if (affine & 2) inputs.push_back(tg::test::uniform(normalized, gen, -1, 1));
      auto f = [&](const std::vector<Tensor>& v) {
        return tg::layer_norm(v[0], normalized, affine & 1 ? v[1] : Tensor(),
                              affine & 2 ? v[affine & 1 ? 2 : 1] : Tensor(), 0.01);
      };
      auto result = tg::gradgradcheck(f, inputs);
      INFO(result.message);
      CHECK(result.ok);
    }
}

TEST_CASE("layer_norm differentiates through its row statistics twice", "[ops][layer_norm][higher_order]") {
  tg::Generator gen(306);
  Tensor x = tg::test::uniform({2, 4}, gen, -2, 2), c = tg::test::uniform({2, 4}, gen, -1, 1);
  Tensor w = tg::test::uniform({4}, gen, 0.5, 2), b = tg::test::uniform({4}, gen, -1, 1);
  check_hessians([&](const std::vector<Tensor>& v) { return (tg::layer_norm(v[0], {4}, v[1], v[2], 1e-3) * c).sum(); },
                 [&](const std::vector<Tensor>& v) { return (layer_norm_composed(v[0], v[1], v[2], 1e-3) * c).sum(); },
                 {x, w, b});
  // eps = 0: every row of xhat has sum of squares M, so sum(y^2) is constant and its Hessian 0
  Tensor h = tg::hessian(
      [](const Tensor& t) {
        Tensor y = tg::layer_norm(t, {4}, Tensor(), Tensor(), 0);
        return (y * y).sum();
      },
      x);
  CHECK(allclose(h, tg::zeros({2, 4, 2, 4}, {.dtype = tg::kFloat64}), 0, 1e-9));
}

TEST_CASE("dropout's gradient is linear: d(dx)/d(dy) = mask / (1 - p), and 0 in x", "[ops][dropout][higher_order]") {
  tg::Generator gen(14);
  Tensor x = tg::test::uniform({3, 5}, gen, -2, 2).requires_grad_();
  Tensor seed = tg::test::uniform({3, 5}, gen, -1, 1).requires_grad_();
  Tensor y = tg::dropout(x, 0.4, true, gen);
  Tensor dx = tg::grad({y}, {x}, {.grad_outputs = {seed}, .create_graph = true})[0];
  REQUIRE(dx.requires_grad());
  Tensor u = tg::test::uniform({3, 5}, gen, -1, 1);
  CHECK_FALSE(tg::grad({dx}, {x}, {.grad_outputs = {u}, .retain_graph = true, .allow_unused = true})[0].defined());
  Tensor scale = tg::ne(y.detach(), 0).to(tg::kFloat64) / 0.6;  // x has no zeros: y = 0 only where dropped
  CHECK(allclose(tg::grad({dx}, {seed}, {.grad_outputs = {u}})[0], u * scale, 1e-12, 1e-14));
  auto result = tg::gradgradcheck(
      [](const std::vector<Tensor>& v) {
        tg::Generator same(15);  // the same mask on every call
        return tg::dropout(v[0], 0.3, true, same);
      },
      {tg::test::uniform({4, 3}, gen, -2, 2)});
  INFO(result.message);
  CHECK(result.ok);
}

TEST_CASE("batch_norm, layer_norm and dropout: first-order gradients are the same with and without create_graph",
          "[ops][batchnorm][layer_norm][dropout][higher_order]") {
  tg::Generator gen(307);
  Tensor x = tg::test::uniform({3, 2, 4}, gen, -2, 2).requires_grad_();
  Tensor w2 = tg::test::uniform({2}, gen, 0.5, 2).requires_grad_(),
         b2 = tg::test::uniform({2}, gen, -1, 1).requires_grad_();
  Tensor w4 = tg::test::uniform({4}, gen, 0.5, 2).requires_grad_(),
         b4 = tg::test::uniform({4}, gen, -1, 1).requires_grad_();
  Tensor rm = tg::test::uniform({2}, gen, -1, 1), rv = tg::test::uniform({2}, gen, 0.5, 2);
  struct Case {
    const char* name;
    std::function<Tensor()> f;
    std::vector<Tensor> inputs;
  };
  for (const Case& c : std::vector<Case>{
           {"batch_norm training", [&] { return tg::batch_norm(x, Tensor(), Tensor(), w2, b2, true); }, {x, w2, b2}},
           {"batch_norm eval", [&] { return tg::batch_norm(x, rm, rv, w2, b2, false); }, {x, w2, b2}},
           {"layer_norm", [&] { return tg::layer_norm(x, {4}, w4, b4); }, {x, w4, b4}},
           {"layer_norm, no affine",
            [&] {
              return tg::layer_norm(x, {2, 4});
            },
            {x}},
           {"dropout",
            [&] {
              tg::Generator same(16);
              return tg::dropout(x, 0.5, true, same);
            },
            {x}}}) {
    INFO(c.name);
    Tensor y = c.f();
    Tensor seed = tg::test::uniform(y.shape(), gen, -1, 1);
    std::vector<Tensor> plain = tg::grad({y}, c.inputs, {.grad_outputs = {seed}, .retain_graph = true});
    std::vector<Tensor> recorded = tg::grad({y}, c.inputs, {.grad_outputs = {seed}, .create_graph = true});
    for (std::size_t k = 0; k < c.inputs.size(); ++k) {
      CHECK_FALSE(plain[k].requires_grad());
      CHECK(allclose(recorded[k], plain[k], 1e-10, 1e-12));
    }
  }
}
