// SPDX-License-Identifier: MIT
// multinomial (ops/sampling.cpp): seeded draws, frequencies that follow the weights, no repeats
// without replacement, and clear errors for weights that cannot be sampled.
#include <map>
#include <set>

#include "framework/ops/op_test_util.hpp"

using tg::Shape;
using tg::Tensor;

TEST_CASE("multinomial: the same seed gives the same draws; frequencies follow the weights", "[ops][sampling]") {
  Tensor probs = tg::tensor({0.1, 0.0, 0.6, 0.3});  // need not sum to 1: weights 1 : 0 : 6 : 3
  tg::Generator a(1), b(1);
  Tensor x = tg::multinomial(probs * 10, 20000, true, a);
  CHECK(x.dtype() == tg::kInt64);
  CHECK(x.shape() == Shape{20000});
  CHECK(x.tolist() == tg::multinomial(probs * 10, 20000, true, b).tolist());
  std::map<std::int64_t, int> count;
  for (double c : x.tolist()) ++count[static_cast<std::int64_t>(c)];
  CHECK(count[1] == 0);  // weight 0 is never drawn
  // within 5 standard deviations of n p (n p (1 - p) <= 4800 -> sd <= 70)
  CHECK(std::abs(count[0] - 2000) < 350);
  CHECK(std::abs(count[2] - 12000) < 350);
  CHECK(std::abs(count[3] - 6000) < 350);
}

TEST_CASE("multinomial: without replacement no class repeats within a row; rows are drawn independently",
          "[ops][sampling]") {
  tg::Generator gen(2);
  Tensor probs = tg::tensor({{1.0, 1.0, 1.0, 1.0, 0.0}, {0.0, 5.0, 1.0, 1.0, 1.0}});
  Tensor x = probs.multinomial(4, false, gen);
  CHECK(x.shape() == Shape{2, 4});
  auto v = x.tolist();
  std::set<double> row0(v.begin(), v.begin() + 4), row1(v.begin() + 4, v.end());
  CHECK(row0 == std::set<double>{0, 1, 2, 3});  // the four classes of positive weight, each once
  CHECK(row1 == std::set<double>{1, 2, 3, 4});
}

TEST_CASE("multinomial refuses weights it cannot sample, naming the row and the fix", "[ops][sampling]") {
  using tg::test::MessageContains;
  CHECK_THROWS_MATCHES(tg::multinomial(tg::tensor({1.0, -1.0}), 1), tg::ValueError,
                       MessageContains({"multinomial", "row 0", "-1", ">= 0"}));
  CHECK_THROWS_MATCHES(tg::multinomial(tg::tensor({{1.0, 1.0}, {0.0, 0.0}}), 1), tg::ValueError,
                       MessageContains({"multinomial", "row 1", "sums to 0"}));
  CHECK_THROWS_MATCHES(tg::multinomial(tg::tensor({1.0, 1.0, 0.0}), 3), tg::ValueError,
                       MessageContains({"multinomial", "only 2 classes", "replacement = true"}));
  CHECK_THROWS_MATCHES(tg::multinomial(tg::tensor({1, 2}), 1), tg::DtypeError,
                       MessageContains({"multinomial", "int64", "to(tg::kFloat32)"}));
  CHECK_THROWS_MATCHES(tg::multinomial(tg::ones({2, 2, 2}), 1), tg::ShapeError,
                       MessageContains({"multinomial", "[2, 2, 2]", "[N, C]"}));
  CHECK_THROWS_MATCHES(tg::multinomial(tg::ones({2}), 0), tg::ValueError,
                       MessageContains({"multinomial", "num_samples is 0"}));
  CHECK_THROWS_MATCHES(tg::multinomial(tg::tensor({1.0, NAN}), 1), tg::ValueError,
                       MessageContains({"multinomial", "nan", "finite"}));
}
