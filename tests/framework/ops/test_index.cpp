// SPDX-License-Identifier: MIT
// gather, scatter_add, index_select, embedding, one_hot, max/min with indices, argmax/argmin
// (ops/index.cpp): values, PyTorch's choices (first index on a tie, NaN wins, repeated ids add
// up), and the one-liners they exist for. Gradcheck, PyTorch fixtures and bad-input rows come
// from the registry (test_registry.cpp).
#include <cmath>
#include <limits>

#include "framework/ops/op_test_util.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::MessageContains;

namespace {

Tensor range(const Shape& shape, bool grad = false) {
  return tg::arange(static_cast<double>(shape.numel()), {.dtype = tg::kFloat64}).reshape(shape).requires_grad_(grad);
}

}  // namespace

TEST_CASE("gather and scatter_add are each other's backward, adding up repeated indices", "[ops][index]") {
  Tensor x = range({2, 3}, true);
  Tensor idx = tg::tensor({{2, 2}, {0, 1}});
  Tensor y = x.gather(1, idx);
  CHECK(y.tolist() == std::vector<double>{2, 2, 3, 4});
  y.sum().backward();
  CHECK(x.grad().tolist() == std::vector<double>{0, 0, 2, 1, 1, 0});  // index 2 used twice
  Tensor s = tg::scatter_add(tg::zeros({2, 3}), 1, idx, tg::ones({2, 2}));
  CHECK(s.tolist() == std::vector<double>{0, 0, 2, 1, 1, 0});
  CHECK(range({4, 2}).index_select(0, tg::tensor({3, 0})).tolist() == std::vector<double>{6, 7, 0, 1});
}

TEST_CASE("embedding: rows by id, repeated ids add their gradients, the padding row gets none", "[ops][index]") {
  Tensor w = range({4, 2}, true);
  Tensor ids = tg::tensor({{1, 3, 1}});
  Tensor y = tg::embedding(w, ids, 3);
  CHECK(y.shape() == Shape{1, 3, 2});
  CHECK(y.tolist() == std::vector<double>{2, 3, 6, 7, 2, 3});  // the padding row's values are returned
  y.sum().backward();
  CHECK(w.grad().tolist() == std::vector<double>{0, 0, 2, 2, 0, 0, 0, 0});
  CHECK_THROWS_MATCHES(tg::embedding(w, tg::tensor({4})), tg::ValueError, MessageContains({"index 4", "[0, 3]"}));
}

TEST_CASE("one_hot gives int64 rows, inferring the class count as PyTorch", "[ops][index]") {
  Tensor h = tg::one_hot(tg::tensor({2, 0}));
  CHECK(h.dtype() == tg::kInt64);
  CHECK(h.shape() == Shape{2, 3});
  CHECK(h.tolist() == std::vector<double>{0, 0, 1, 1, 0, 0});
  CHECK(tg::one_hot(tg::tensor({1}), 4).shape() == Shape{1, 4});
  CHECK_THROWS_MATCHES(tg::one_hot(tg::tensor({5}), 4), tg::ValueError, MessageContains({"class 5", "4 classes"}));
}

TEST_CASE("max and min along a dim give values and indices; the gradient goes to that index", "[ops][index]") {
  Tensor x = tg::tensor({{1.0, 7.0, 7.0}, {4.0, 2.0, 0.0}}, {.dtype = tg::kFloat64, .requires_grad = true});
  auto [values, indices] = tg::max(x, 1);
  CHECK(values.tolist() == std::vector<double>{7, 4});
  CHECK(indices.dtype() == tg::kInt64);
  CHECK(indices.tolist() == std::vector<double>{1, 0});  // the first of a tie
  CHECK(!indices.requires_grad());
  values.sum().backward();
  CHECK(x.grad().tolist() == std::vector<double>{0, 1, 0, 1, 0, 0});
  auto [low, where] = tg::min(x, 0, true);
  CHECK(low.shape() == Shape{1, 3});
  CHECK(where.tolist() == std::vector<double>{0, 1, 1});
  // a NaN wins, as in PyTorch
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor n = tg::tensor({{1.0, nan, 3.0}}, {.dtype = tg::kFloat64});
  CHECK(tg::max(n, 1).indices.item<std::int64_t>() == 1);
  CHECK(std::isnan(tg::max(n).item<double>()));
}

TEST_CASE("max of all elements shares the gradient among ties, as PyTorch", "[ops][index]") {
  Tensor x = tg::tensor({3.0, 1.0, 3.0}, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor m = x.max();
  CHECK(m.dim() == 0);
  CHECK(m.item<double>() == 3);
  m.backward();
  CHECK(x.grad().tolist() == std::vector<double>{0.5, 0, 0.5});
  CHECK(x.detach().min().item<double>() == 1);
}

TEST_CASE("argmax and argmin, and accuracy in one line", "[ops][index]") {
  Tensor logits = tg::tensor({{0.1f, 2.0f, -1.0f}, {3.0f, 0.0f, 0.5f}, {0.0f, 0.0f, 1.0f}, {1.0f, 1.0f, 0.0f}});
  Tensor labels = tg::tensor({1, 0, 0, 0});
  CHECK(logits.argmax(1).tolist() == std::vector<double>{1, 0, 2, 0});
  CHECK(logits.argmin(1).tolist() == std::vector<double>{2, 1, 0, 2});
  CHECK(logits.argmax().item<std::int64_t>() == 3);  // of the flattened tensor
  CHECK(logits.argmax(0, true).shape() == Shape{1, 3});
  Tensor accuracy = (logits.argmax(1) == labels).to(tg::kFloat32).mean();
  CHECK(accuracy.item<float>() == 0.75f);
}
