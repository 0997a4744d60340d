// SPDX-License-Identifier: MIT
// TensorDataset: samples that are rows of in-memory tensors of any dtypes and trailing shapes,
// batched by the DataLoader into one tensor per dataset tensor; and Batch's access to them.
#include <algorithm>
#include <numeric>
#include <set>
#include <vector>

#include "framework/ops/op_test_util.hpp"

using tg::DataLoader;
using tg::Shape;
using tg::Tensor;
using tg::test::MessageContains;

namespace {

// Three tensors whose rows can be told apart: x[i] = [10 i, 10 i + 1, 10 i + 2] (float32),
// y[i] = i (int64) and w[i] = the 2x2 matrix i + [[0, 0.25], [0.5, 0.75]] (float64).
struct Rows {
  Tensor x, y, w;
  explicit Rows(std::int64_t n)
      : x(tg::arange(0, static_cast<double>(3 * n)).reshape({n, 3}) +
          tg::arange(0, static_cast<double>(n)).reshape({n, 1}) * 7),
        y(tg::arange(static_cast<double>(n), {.dtype = tg::kInt64})),
        w(tg::arange(static_cast<double>(n), {.dtype = tg::kFloat64}).reshape({n, 1, 1}) +
          tg::tensor({{0, 0.25}, {0.5, 0.75}}, {.dtype = tg::kFloat64})) {}
};

// Checks that every tensor of `batch` holds the rows of `rows` that its y names, and returns
// those ids in batch order.
std::vector<std::int64_t> check_rows(const tg::Batch& batch, const Rows& rows) {
  REQUIRE(batch.size() == 3);
  const Tensor& y = batch[1];
  REQUIRE(y.dim() == 1);
  const std::int64_t n = y.size(0);
  CHECK(batch[0].shape() == Shape{n, 3});
  CHECK(batch[2].shape() == Shape{n, 2, 2});
  CHECK(batch[0].dtype() == tg::kFloat32);
  CHECK(batch[1].dtype() == tg::kInt64);
  CHECK(batch[2].dtype() == tg::kFloat64);
  std::vector<std::int64_t> ids;
  for (std::int64_t k = 0; k < n; ++k) {
    std::int64_t i = y.at<std::int64_t>({k});
    ids.push_back(i);
    CHECK(batch[0].select(0, k).tolist() == rows.x.select(0, i).tolist());
    CHECK(batch[2].select(0, k).tolist() == rows.w.select(0, i).tolist());
  }
  return ids;
}

std::vector<std::int64_t> iota(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

TEST_CASE("TensorDataset gives sample rows of every tensor, in the order asked", "[data][tensor_dataset]") {
  Rows rows(6);
  tg::TensorDataset data(rows.x, rows.y, rows.w);
  CHECK(data.size() == 6);
  CHECK(data.tensors().size() == 3);
  const std::vector<std::int64_t> indices{4, 0, 4, 2};
  tg::Batch batch = data.get(indices);
  CHECK(check_rows(batch, rows) == indices);
  CHECK(batch[0].tolist() == std::vector<double>{40, 41, 42, 0, 1, 2, 40, 41, 42, 20, 21, 22});
  // The rows are copies: writing to the batch leaves the dataset alone.
  batch[0].fill_(-1);
  CHECK(rows.x.select(0, 4).tolist() == std::vector<double>{40, 41, 42});
  // The same from a vector of tensors, and with one tensor.
  tg::TensorDataset from_vector(std::vector<Tensor>{rows.x, rows.y, rows.w});
  CHECK(check_rows(from_vector.get(indices), rows) == indices);
  tg::TensorDataset one(rows.y);
  tg::Batch ys = one.get(indices);
  REQUIRE(ys.size() == 1);
  CHECK(ys[0].tolist() == std::vector<double>{4, 0, 4, 2});
  // No indices: empty rows of the right trailing shapes.
  tg::Batch none = data.get({});
  REQUIRE(none.size() == 3);
  CHECK(none[0].shape() == Shape{0, 3});
  CHECK(none[2].shape() == Shape{0, 2, 2});
}

TEST_CASE("DataLoader over a TensorDataset, without shuffle, gives the rows in order", "[data][tensor_dataset]") {
  Rows rows(10);
  tg::TensorDataset data(rows.x, rows.y, rows.w);
  DataLoader loader(data, 4, false);
  std::vector<std::vector<std::int64_t>> batches;
  for (const tg::Batch& batch : loader) batches.push_back(check_rows(batch, rows));
  REQUIRE(batches.size() == 3);
  CHECK(batches[0] == std::vector<std::int64_t>{0, 1, 2, 3});
  CHECK(batches[1] == std::vector<std::int64_t>{4, 5, 6, 7});
  CHECK(batches[2] == std::vector<std::int64_t>{8, 9});

  DataLoader drop(data, 4, false, 0, /*drop_last=*/true);
  std::vector<std::int64_t> seen;
  for (const tg::Batch& batch : drop) {
    std::vector<std::int64_t> ids = check_rows(batch, rows);
    CHECK(ids.size() == 4);
    seen.insert(seen.end(), ids.begin(), ids.end());
  }
  CHECK(seen == iota(8));
}

TEST_CASE("DataLoader over a TensorDataset shuffles its rows, each once per epoch", "[data][tensor_dataset]") {
  Rows rows(23);
  tg::TensorDataset data(rows.x, rows.y, rows.w);
  DataLoader loader(data, 5, true, 17);
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::vector<std::int64_t> order;
    std::int64_t batches = 0;
    for (const tg::Batch& batch : loader) {
      std::vector<std::int64_t> ids = check_rows(batch, rows);
      order.insert(order.end(), ids.begin(), ids.end());
      ++batches;
    }
    CHECK(batches == 5);
    CHECK(order == loader.order(static_cast<std::uint64_t>(epoch)));  // the loader's own order
    CHECK(order != iota(23));
    std::sort(order.begin(), order.end());
    CHECK(order == iota(23));
  }
  DataLoader dropped(data, 5, true, 17, /*drop_last=*/true);
  std::set<std::int64_t> once;
  std::int64_t count = 0;
  for (const tg::Batch& batch : dropped) {
    std::vector<std::int64_t> ids = check_rows(batch, rows);
    CHECK(ids.size() == 5);
    once.insert(ids.begin(), ids.end());
    count += static_cast<std::int64_t>(ids.size());
  }
  CHECK(count == 20);
  CHECK(once.size() == 20);
}

TEST_CASE("a TensorDataset batch unpacks into its tensors; images() and labels() name the first two",
          "[data][tensor_dataset][batch]") {
  Tensor x = tg::randn({8, 4}), y = tg::arange(8, {.dtype = tg::kInt64});
  tg::TensorDataset data(x, y);
  DataLoader loader(data, 3, false);
  std::int64_t rows = 0;
  for (const tg::Batch& batch : loader) {
    auto [xb, yb] = batch.unpack<2>();
    CHECK(xb.impl_ptr() == batch[0].impl_ptr());
    CHECK(yb.impl_ptr() == batch[1].impl_ptr());
    CHECK(batch.images().impl_ptr() == xb.impl_ptr());
    CHECK(batch.labels().impl_ptr() == yb.impl_ptr());
    CHECK(xb.shape() == Shape{yb.numel(), 4});
    CHECK(tg::test::allclose(xb, x.index_select(0, yb), 0, 0));
    std::size_t count = 0;
    for (const Tensor& t : batch) count += t.defined() ? 1 : 0;
    CHECK(count == 2);
    CHECK_THROWS_MATCHES(batch.unpack<3>(), tg::ValueError, MessageContains({"Batch::unpack", "2 tensors, not 3"}));
    rows += yb.numel();
  }
  CHECK(rows == 8);
  tg::Batch single{tg::zeros({2})};
  CHECK_THROWS_MATCHES(single.labels(), tg::ValueError, MessageContains({"Batch::labels", "1 tensors"}));
  CHECK_THROWS_MATCHES(single[1], tg::ValueError, MessageContains({"Batch[]", "index 1"}));
}

TEST_CASE("TensorDataset rejects tensors that are not rows of the same samples", "[data][tensor_dataset][errors]") {
  Tensor x = tg::zeros({5, 3}), y = tg::zeros({4}, {.dtype = tg::kInt64});
  CHECK_THROWS_MATCHES(tg::TensorDataset(x, y), tg::ShapeError,
                       MessageContains({"TensorDataset", "first dims differ", "[5, 3], [4]"}));
  CHECK_THROWS_MATCHES(tg::TensorDataset(x, tg::scalar(1)), tg::ShapeError,
                       MessageContains({"TensorDataset", "tensor 1 is 0-d", "[5, 3], []"}));
  CHECK_THROWS_MATCHES(tg::TensorDataset(std::vector<Tensor>{}), tg::ValueError,
                       MessageContains({"TensorDataset", "no tensors"}));
  CHECK_THROWS_MATCHES(tg::TensorDataset(x, Tensor()), tg::ValueError,
                       MessageContains({"TensorDataset", "tensor 1 is undefined"}));
  tg::TensorDataset data(x);
  const std::vector<std::int64_t> bad{0, 5};
  CHECK_THROWS_MATCHES(data.get(bad), tg::ValueError, MessageContains({"TensorDataset::get", "index 5", "[0, 5)"}));
}
