// SPDX-License-Identifier: MIT
// where, masked_fill, tril and triu (ops/masking.cpp): values, broadcasting, dtypes, and the
// patterns they exist for (a causal attention mask). Gradcheck, PyTorch fixtures and bad-input
// rows come from the registry (test_registry.cpp).
#include <cmath>
#include <limits>

#include "framework/ops/op_test_util.hpp"

using tg::Tensor;
using tg::test::allclose;
using tg::test::MessageContains;

TEST_CASE("where picks elementwise, broadcasts all three, and routes each gradient to its side", "[ops][masking]") {
  Tensor cond = tg::tensor({{true}, {false}});  // [2, 1]
  Tensor a = tg::tensor({1.0, 2.0, 3.0}, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor b = tg::full({2, 3}, -1.0, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor y = tg::where(cond, a, b);
  CHECK(y.tolist() == std::vector<double>{1, 2, 3, -1, -1, -1});
  y.sum().backward();
  CHECK(a.grad().tolist() == std::vector<double>{1, 1, 1});  // summed back to [3]
  CHECK(b.grad().tolist() == std::vector<double>{0, 0, 0, 1, 1, 1});
}

TEST_CASE("where with a number keeps the tensor's dtype, as PyTorch", "[ops][masking]") {
  Tensor x = tg::tensor({-1.0f, 2.0f});
  Tensor y = tg::where(x > 0, x, 0);
  CHECK(y.dtype() == tg::kFloat32);
  CHECK(y.tolist() == std::vector<double>{0, 2});
  CHECK(tg::where(x > 0, 1.5, x).tolist() == std::vector<double>{-1, 1.5});
  Tensor i = tg::tensor({1, 2});
  CHECK(tg::where(i > 1, i, 0).dtype() == tg::kInt64);
  CHECK(tg::where(i > 1, i, 0.5).dtype() == tg::kFloat32);  // a float number lifts an int64 tensor
}

TEST_CASE("masked_fill: a causal mask before softmax gives each row its past only", "[ops][masking]") {
  const double inf = std::numeric_limits<double>::infinity();
  Tensor scores = tg::zeros({3, 3}, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor future = tg::ones({3, 3}, {.dtype = tg::kBool}).triu(1);  // true above the diagonal
  Tensor p = tg::softmax(scores.masked_fill(future, -inf), 1);
  CHECK(allclose(p,
                 tg::tensor({{1.0, 0.0, 0.0}, {0.5, 0.5, 0.0}, {1 / 3.0, 1 / 3.0, 1 / 3.0}}, {.dtype = tg::kFloat64}),
                 1e-12, 1e-12));
  (p * tg::arange(9, {.dtype = tg::kFloat64}).reshape({3, 3})).sum().backward();
  // no gradient reaches a masked score
  CHECK(scores.grad().at<double>({0, 1}) == 0);
  CHECK(scores.grad().at<double>({0, 2}) == 0);
  CHECK(scores.grad().at<double>({1, 2}) == 0);
  CHECK(scores.grad().at<double>({2, 0}) != 0);
}

TEST_CASE("masked_fill broadcasts the mask, keeps the dtype, and refuses what would lose the value", "[ops][masking]") {
  Tensor x = tg::arange(6).reshape({2, 3});
  Tensor y = x.masked_fill(tg::tensor({true, false, true}), 9);
  CHECK(y.tolist() == std::vector<double>{9, 1, 9, 9, 4, 9});
  Tensor i = tg::zeros({2}, {.dtype = tg::kInt64});
  CHECK(i.masked_fill(tg::tensor({true, false}), 7).tolist() == std::vector<double>{7, 0});
  CHECK_THROWS_MATCHES(i.masked_fill(tg::tensor({true, false}), 0.5), tg::DtypeError, MessageContains({"0.5"}));
}

TEST_CASE("tril and triu keep the triangles of the last two dims, with a diagonal offset", "[ops][masking]") {
  Tensor x = tg::arange(1, 10).reshape({3, 3});
  CHECK(x.tril().tolist() == std::vector<double>{1, 0, 0, 4, 5, 0, 7, 8, 9});
  CHECK(x.triu().tolist() == std::vector<double>{1, 2, 3, 0, 5, 6, 0, 0, 9});
  CHECK(x.tril(-1).tolist() == std::vector<double>{0, 0, 0, 4, 0, 0, 7, 8, 0});
  CHECK(x.triu(1).tolist() == std::vector<double>{0, 2, 3, 0, 0, 6, 0, 0, 0});
  // batched: every matrix of the last two dims
  Tensor b = tg::ones({2, 2, 3}).tril();
  CHECK(b.tolist() == std::vector<double>{1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0});
  Tensor bools = tg::ones({2, 2}, {.dtype = tg::kBool}).tril();
  CHECK(bools.dtype() == tg::kBool);
}
