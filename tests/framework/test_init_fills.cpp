// SPDX-License-Identifier: MIT
// The plain in-place fills of init.hpp, as torch.nn.init: normal_, uniform_, zeros_, ones_ and
// constant_: their distributions, dtypes, the generator they draw from, and their errors.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/init.hpp"

using tg::Tensor;
using tg::test::MessageContains;
using tg::test::Stats;
using tg::test::stats_of;

TEST_CASE("normal_ fills float32 and float64 tensors with N(mean, std^2)", "[init][fills]") {
  for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64}) {
    INFO(tg::dtype_name(dtype));
    tg::Generator gen(5);
    Tensor t = tg::zeros({300, 200}, {.dtype = dtype});
    auto impl = t.impl_ptr();
    Tensor& returned = tg::normal_(t, 3, 0.5, gen);
    CHECK(&returned == &t);
    CHECK(t.impl_ptr() == impl);  // in place
    CHECK(t.dtype() == dtype);
    Stats s = stats_of(t);
    // 60000 draws: the mean's standard error is 0.5 / sqrt(60000) = 0.002.
    CHECK(s.mean == Approx(3).margin(0.01));
    CHECK(s.std == Approx(0.5).epsilon(0.02));
    CHECK(s.min < 3 - 3 * 0.5);  // normal tails, beyond 3 std on both sides
    CHECK(s.max > 3 + 3 * 0.5);
  }
  // The defaults are N(0, 1).
  tg::Generator gen(6);
  Tensor t = tg::empty({100000});
  tg::normal_(t, 0, 1, gen);
  Stats s = stats_of(t);
  CHECK(s.mean == Approx(0).margin(0.02));
  CHECK(s.std == Approx(1).epsilon(0.02));
  // std = 0 is allowed, and fills with the mean.
  tg::normal_(t, -2.5, 0, gen);
  CHECK(tg::test::allclose(t, tg::full({100000}, -2.5), 0, 0));
}

TEST_CASE("uniform_ fills float32 and float64 tensors with U(a, b)", "[init][fills]") {
  for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64}) {
    INFO(tg::dtype_name(dtype));
    tg::Generator gen(7);
    Tensor t = tg::zeros({250, 240}, {.dtype = dtype});
    Tensor& returned = tg::uniform_(t, -1, 3, gen);
    CHECK(&returned == &t);
    CHECK(t.dtype() == dtype);
    Stats s = stats_of(t);
    CHECK(s.min >= -1);
    CHECK(s.max <= 3);
    CHECK(s.min < -0.999);  // 60000 draws reach both ends
    CHECK(s.max > 2.999);
    CHECK(s.mean == Approx(1).margin(0.02));
    CHECK(s.std == Approx(4 / std::sqrt(12.0)).epsilon(0.02));  // U(a, b) has std (b - a) / sqrt(12)
  }
  tg::Generator gen(8);
  Tensor t = tg::empty({50000}, {.dtype = tg::kFloat64});
  tg::uniform_(t, 0, 1, gen);  // the defaults: U(0, 1)
  Stats s = stats_of(t);
  CHECK(s.min >= 0);
  CHECK(s.max < 1);
  CHECK(s.mean == Approx(0.5).margin(0.01));
  tg::uniform_(t, 2, 2, gen);  // a = b fills with a
  CHECK(tg::test::allclose(t, tg::full({50000}, 2, {.dtype = tg::kFloat64}), 0, 0));
}

TEST_CASE("normal_ and uniform_ draw from the default generator unless given one", "[init][fills]") {
  Tensor a = tg::empty({4, 5}), b = tg::empty({4, 5});
  tg::manual_seed(11);
  tg::normal_(a);
  tg::manual_seed(11);
  tg::normal_(b);
  CHECK(tg::test::allclose(a, b, 0, 0));
  tg::Generator gen(11);  // the draws are randn's, in float64, rounded to the tensor's dtype
  CHECK(tg::test::allclose(a, tg::randn({4, 5}, gen, {.dtype = tg::kFloat64}).to(tg::kFloat32), 0, 0));
  tg::normal_(b);  // the default generator moved on
  CHECK_FALSE(tg::test::allclose(a, b, 0, 0));

  tg::manual_seed(12);
  tg::uniform_(a, -2, 2);
  tg::Generator same(12);
  CHECK(tg::test::allclose(a, (tg::rand({4, 5}, same, {.dtype = tg::kFloat64}) * 4 - 2).to(tg::kFloat32), 0, 0));
}

TEST_CASE("zeros_, ones_ and constant_ fill tensors of every dtype", "[init][fills]") {
  for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64, tg::kInt64, tg::kBool}) {
    INFO(tg::dtype_name(dtype));
    Tensor t = tg::full({2, 3}, 1, {.dtype = dtype});
    CHECK(&tg::zeros_(t) == &t);
    CHECK(t.dtype() == dtype);
    CHECK(t.tolist() == std::vector<double>(6, 0.0));
    CHECK(&tg::ones_(t) == &t);
    CHECK(t.tolist() == std::vector<double>(6, 1.0));
  }
  Tensor f = tg::zeros({3}, {.dtype = tg::kFloat64});
  tg::constant_(f, 0.25);
  CHECK(f.tolist() == std::vector<double>{0.25, 0.25, 0.25});
  Tensor i = tg::zeros({2}, {.dtype = tg::kInt64});
  tg::constant_(i, std::int64_t{1} << 40);  // an int64 value stays exact
  CHECK(i.at<std::int64_t>({1}) == std::int64_t{1} << 40);
}

TEST_CASE("the fills write parameters in place, unrecorded, with grad mode on", "[init][fills]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor w = tg::ones({4, 3}, {.requires_grad = true});
  Tensor b = tg::ones({4}, {.requires_grad = true});
  tg::Generator gen(9);
  tg::normal_(w, 0, 0.02, gen);
  tg::uniform_(w, -0.1, 0.1, gen);
  tg::zeros_(b);
  tg::constant_(b, 0.5);
  CHECK(tape.size() == 0);
  CHECK(tg::is_grad_enabled());
  CHECK(w.is_leaf());
  CHECK(w.requires_grad());
  CHECK(b.tolist() == std::vector<double>(4, 0.5));
  Stats s = stats_of(w);
  CHECK(s.min >= -0.1);
  CHECK(s.max <= 0.1);
  // Still trainable: the gradient reaches the filled tensors.
  (tg::matmul(tg::ones({2, 3}), w.t()) + b).sum().backward();
  CHECK(tg::test::allclose(b.grad(), tg::full({4}, 2), 0, 0));
}

TEST_CASE("the fills reject bad tensors and bad values, and leave the tensor unchanged", "[init][fills][errors]") {
  Tensor undefined;
  CHECK_THROWS_MATCHES(tg::normal_(undefined), tg::ValueError, MessageContains({"normal_", "undefined"}));
  CHECK_THROWS_MATCHES(tg::uniform_(undefined), tg::ValueError, MessageContains({"uniform_", "undefined"}));
  CHECK_THROWS_MATCHES(tg::zeros_(undefined), tg::ValueError, MessageContains({"zeros_", "undefined"}));
  CHECK_THROWS_MATCHES(tg::ones_(undefined), tg::ValueError, MessageContains({"ones_", "undefined"}));
  CHECK_THROWS_MATCHES(tg::constant_(undefined, 2), tg::ValueError, MessageContains({"constant_", "undefined"}));

  Tensor ints = tg::arange(4, {.dtype = tg::kInt64});
  Tensor flags = tg::full({2}, true, {.dtype = tg::kBool});
  CHECK_THROWS_MATCHES(tg::normal_(ints), tg::DtypeError, MessageContains({"normal_", "int64", ".to(tg::kFloat32)"}));
  CHECK_THROWS_MATCHES(tg::uniform_(flags), tg::DtypeError, MessageContains({"uniform_", "bool", "float32"}));
  CHECK(ints.tolist() == std::vector<double>{0, 1, 2, 3});

  Tensor t = tg::full({3}, 7);
  CHECK_THROWS_MATCHES(tg::normal_(t, 0, -1), tg::ValueError, MessageContains({"normal_", "std", "got -1", ">= 0"}));
  CHECK_THROWS_MATCHES(tg::uniform_(t, 2, 1), tg::ValueError,
                       MessageContains({"uniform_", "a = 2", "b = 1", "uniform_(t, low, high)"}));
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_MATCHES(tg::normal_(t, 0, nan), tg::ValueError, MessageContains({"normal_", "std", "finite"}));
  CHECK_THROWS_MATCHES(tg::normal_(t, inf, 1), tg::ValueError, MessageContains({"normal_", "mean", "inf"}));
  CHECK_THROWS_MATCHES(tg::uniform_(t, 0, inf), tg::ValueError, MessageContains({"uniform_", "b", "finite"}));
  CHECK(t.tolist() == std::vector<double>(3, 7.0));
}
