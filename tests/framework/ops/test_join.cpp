// SPDX-License-Identifier: MIT
// cat, stack, split, chunk, slices (slice, narrow, select, index), squeeze, unsqueeze and flip
// (ops/join.cpp): values, PyTorch's size rules, gradients routed back to each part, and bad
// calls. Gradcheck, PyTorch fixtures and bad-input rows come from the registry
// (test_registry.cpp).
#include "framework/ops/op_test_util.hpp"

using tg::Shape;
using tg::Slice;
using tg::Tensor;
using tg::test::MessageContains;

namespace {

Tensor range(const Shape& shape, bool grad = false) {
  return tg::arange(static_cast<double>(shape.numel()), {.dtype = tg::kFloat64}).reshape(shape).requires_grad_(grad);
}

std::vector<std::int64_t> sizes_along(const std::vector<Tensor>& parts, int dim) {
  std::vector<std::int64_t> out;
  for (const Tensor& p : parts) out.push_back(p.shape()[dim]);
  return out;
}

}  // namespace

TEST_CASE("cat joins along a dim, promotes dtypes, and sends each part its slice of the gradient", "[ops][join]") {
  Tensor a = range({2, 2}, true), b = range({2, 1}, true);
  Tensor y = tg::cat({a, b}, 1);
  CHECK(y.shape() == Shape{2, 3});
  CHECK(y.tolist() == std::vector<double>{0, 1, 0, 2, 3, 1});
  (y * range({2, 3})).sum().backward();
  CHECK(a.grad().tolist() == std::vector<double>{0, 1, 3, 4});
  CHECK(b.grad().tolist() == std::vector<double>{2, 5});
  // a list from a vector; int64 with float32 is float32
  std::vector<Tensor> parts{tg::tensor({1, 2}), tg::tensor({0.5f})};
  Tensor z = tg::cat(parts);
  CHECK(z.dtype() == tg::kFloat32);
  CHECK(z.tolist() == std::vector<double>{1, 2, 0.5});
  CHECK_THROWS_MATCHES(tg::cat({range({2, 2}), range({3, 3})}), tg::ShapeError,
                       MessageContains({"tensor 1 has shape [3, 3]"}));
}

TEST_CASE("stack adds a dim, and unstacks the gradient", "[ops][join]") {
  Tensor a = range({3}, true), b = range({3}, true);
  Tensor y = tg::stack({a, b}, 1);  // [3, 2]
  CHECK(y.shape() == Shape{3, 2});
  CHECK(y.tolist() == std::vector<double>{0, 0, 1, 1, 2, 2});
  (y * range({3, 2})).sum().backward();
  CHECK(a.grad().tolist() == std::vector<double>{0, 2, 4});
  CHECK(b.grad().tolist() == std::vector<double>{1, 3, 5});
  CHECK(tg::stack({a, b}).shape() == Shape{2, 3});
  CHECK(tg::stack({a, b}, -1).shape() == Shape{3, 2});
}

TEST_CASE("split and chunk size their parts as PyTorch does", "[ops][join]") {
  Tensor x = range({5, 2});
  CHECK(sizes_along(x.split(2), 0) == std::vector<std::int64_t>{2, 2, 1});
  CHECK(sizes_along(tg::split(x, {1, 4}), 0) == std::vector<std::int64_t>{1, 4});
  CHECK(sizes_along(x.chunk(4), 0) == std::vector<std::int64_t>{2, 2, 1});  // torch: 3 chunks, not 4
  CHECK(sizes_along(range({6}).chunk(4), 0) == std::vector<std::int64_t>{2, 2, 2});
  CHECK(sizes_along(x.chunk(2, 1), 1) == std::vector<std::int64_t>{1, 1});
  CHECK(x.split(2)[2].tolist() == std::vector<double>{8, 9});
}

TEST_CASE("split: the gradient of parts left unused is zeros, in one entry for all parts", "[ops][join]") {
  Tensor x = range({2, 6}, true);
  auto qkv = x.split(2, 1);  // three [2, 2] parts, as an attention block splits its projection
  CHECK(qkv.size() == 3);
  (qkv[0] * 1.0 + qkv[2] * 3.0).sum().backward();
  CHECK(x.grad().tolist() == std::vector<double>{1, 1, 0, 0, 3, 3, 1, 1, 0, 0, 3, 3});
  // one tape entry made all three parts
  tg::Tape::current().clear();
  auto parts = range({4}, true).split(1);
  CHECK(tg::Tape::current().size() == 1);
}

TEST_CASE("slices follow Python's rules; index slices dim by dim", "[ops][join]") {
  Tensor x = range({6, 7}, true);
  Tensor y = x.index({Slice(1, 5, 2), Slice(2, 7)});  // x[1:5:2, 2:7]
  CHECK(y.shape() == Shape{2, 5});
  CHECK(y.tolist() == std::vector<double>{9, 10, 11, 12, 13, 23, 24, 25, 26, 27});
  y.sum().backward();
  CHECK(x.grad().sum().item<double>() == 10);
  CHECK(x.grad().at<double>({1, 2}) == 1);
  CHECK(x.grad().at<double>({2, 2}) == 0);
  // negative and out-of-range bounds, as Python: x[-2:100] and x[5:2] (empty)
  CHECK(tg::slice(range({5}), 0, -2, 100).tolist() == std::vector<double>{3, 4});
  CHECK(tg::slice(range({5}), 0, 5, 2).numel() == 0);
  CHECK(range({4, 3}).narrow(0, 1, 2).tolist() == std::vector<double>{3, 4, 5, 6, 7, 8});
  CHECK(range({4, 3}).select(1, -1).tolist() == std::vector<double>{2, 5, 8, 11});
  CHECK(range({4, 3}).select(0, 2).shape() == Shape{3});
  CHECK_THROWS_MATCHES(range({4}).narrow(0, 2, 3), tg::ValueError, MessageContains({"run past dim 0"}));
  CHECK_THROWS_MATCHES(range({4}).select(0, 4), tg::ValueError, MessageContains({"use an index in [-4, 3]"}));
  CHECK_THROWS_MATCHES(range({4}).index({Slice(), Slice()}), tg::ShapeError, MessageContains({"at most one slice"}));
}

TEST_CASE("squeeze and unsqueeze are views; flip reverses dims", "[ops][join]") {
  Tensor x = range({2, 1, 3}, true);
  Tensor s = x.squeeze();
  CHECK(s.shape() == Shape{2, 3});
  CHECK(s.raw_data() == x.raw_data());            // no copy
  CHECK(x.squeeze(0).shape() == Shape{2, 1, 3});  // dim 0 has size 2: unchanged, as PyTorch
  CHECK(x.unsqueeze(0).shape() == Shape{1, 2, 1, 3});
  CHECK(x.unsqueeze(-1).shape() == Shape{2, 1, 3, 1});
  (s.unsqueeze(0) * range({1, 2, 3})).sum().backward();
  CHECK(x.grad().shape() == Shape{2, 1, 3});
  CHECK(x.grad().tolist() == std::vector<double>{0, 1, 2, 3, 4, 5});
  Tensor f = range({2, 3}).flip({1});
  CHECK(f.tolist() == std::vector<double>{2, 1, 0, 5, 4, 3});
  CHECK(range({2, 3}).flip({0, 1}).tolist() == std::vector<double>{5, 4, 3, 2, 1, 0});
}

TEST_CASE("stack, cat and split take more tensors than an op's 32-bit masks have bits", "[ops][join]") {
  // The unrolled recurrence of a 64-step sequence stacks 64 outputs; a split into 40 chunks
  // returns 40. Inputs and outputs past bit 31 of OpInfo's masks need and get gradients.
  tg::Generator gen(9);
  std::vector<Tensor> steps;
  for (int t = 0; t < 64; ++t) steps.push_back(tg::randn({2, 3}, gen).requires_grad_());
  Tensor w = tg::randn({64, 2, 3}, gen);
  (tg::stack(steps, 0) * w).sum().backward();
  for (int t = 0; t < 64; ++t) CHECK(tg::test::allclose(steps[t].grad(), tg::select(w, 0, t)));
  Tensor x = tg::randn({40, 2}, gen).requires_grad_();
  std::vector<Tensor> parts = tg::split(x, 1, 0);
  REQUIRE(parts.size() == 40);
  Tensor total = parts[0].sum();
  for (std::size_t k = 1; k < parts.size(); ++k) total = total + parts[k].sum() * static_cast<double>(k + 1);
  total.backward();
  CHECK(x.grad().at<float>({39, 1}) == 40.0f);
  CHECK(x.grad().at<float>({33, 0}) == 34.0f);
}
