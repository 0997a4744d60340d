// DataLoader: batch shapes, drop_last, limits, and seeded shuffles that reproduce per epoch.
#include <algorithm>
#include <numeric>
#include <set>

#include "data/idx_test_util.hpp"
#include "test_util.hpp"

using tg::DataLoader;
using tg::Shape;

namespace {

// Sample i is an image [1, 1, 1] holding i, with label i: batches show which samples they hold.
class IndexDataset : public tg::Dataset {
 public:
  explicit IndexDataset(std::int64_t n) : n_(n) {}
  std::int64_t size() const override { return n_; }
  tg::Batch get(std::span<const std::int64_t> indices) const override {
    std::vector<double> values(indices.begin(), indices.end());
    auto n = static_cast<std::int64_t>(values.size());
    return {tg::from_vector(values, {n, 1, 1, 1}), tg::from_vector(values, {n})};
  }

 private:
  std::int64_t n_;
};

// The sample indices of one pass, batch by batch.
std::vector<std::vector<std::int64_t>> pass(DataLoader& loader) {
  std::vector<std::vector<std::int64_t>> batches;
  for (const tg::Batch& batch : loader) {
    std::vector<double> labels = batch.labels().tolist();
    REQUIRE(batch.images().tolist() == labels);
    batches.emplace_back(labels.begin(), labels.end());
  }
  return batches;
}

std::vector<std::int64_t> flatten(const std::vector<std::vector<std::int64_t>>& batches) {
  std::vector<std::int64_t> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

std::vector<std::int64_t> iota(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

TEST_CASE("DataLoader without shuffle gives the samples in order", "[data][dataloader]") {
  IndexDataset data(10);
  DataLoader loader(data, 4, false);
  CHECK(loader.len() == 3);
  CHECK(loader.num_samples() == 10);
  auto batches = pass(loader);
  REQUIRE(batches.size() == 3);
  CHECK(batches[0] == std::vector<std::int64_t>{0, 1, 2, 3});
  CHECK(batches[1] == std::vector<std::int64_t>{4, 5, 6, 7});
  CHECK(batches[2] == std::vector<std::int64_t>{8, 9});
  CHECK(pass(loader) == batches);  // every epoch alike
  CHECK(loader.epoch() == 2);
}

TEST_CASE("DataLoader's drop_last drops the last partial batch", "[data][dataloader]") {
  IndexDataset ten(10), eight(8), none(0);
  DataLoader drop(ten, 4, false, 0, true);
  CHECK(drop.len() == 2);
  CHECK(flatten(pass(drop)) == iota(8));
  CHECK(DataLoader(eight, 4, false, 0, true).len() == 2);
  CHECK(DataLoader(eight, 4, false, 0, false).len() == 2);
  CHECK(DataLoader(ten, 11, false, 0, true).len() == 0);
  CHECK(DataLoader(ten, 11, false, 0, false).len() == 1);
  DataLoader empty(none, 4, true);
  CHECK(empty.len() == 0);
  CHECK(pass(empty).empty());

  DataLoader shuffled(ten, 3, true, 7, true);  // a different third of a batch dropped each epoch
  std::set<std::int64_t> seen;
  for (int epoch = 0; epoch < 5; ++epoch) {
    auto batches = pass(shuffled);
    REQUIRE(batches.size() == 3);
    for (const auto& b : batches) CHECK(b.size() == 3);
    std::vector<std::int64_t> all = flatten(batches);
    CHECK(std::set<std::int64_t>(all.begin(), all.end()).size() == 9);  // no sample twice
    seen.insert(all.begin(), all.end());
  }
  CHECK(seen.size() == 10);
}

TEST_CASE("DataLoader shuffles every sample exactly once per epoch", "[data][dataloader]") {
  IndexDataset data(100);
  DataLoader loader(data, 7, true, 42);
  CHECK(loader.len() == 15);
  std::vector<std::vector<std::int64_t>> orders;
  for (int epoch = 0; epoch < 4; ++epoch) {
    auto batches = pass(loader);
    REQUIRE(batches.size() == 15);
    CHECK(batches.back().size() == 2);
    std::vector<std::int64_t> order = flatten(batches);
    CHECK(order == loader.order(static_cast<std::uint64_t>(epoch)));
    std::vector<std::int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == iota(100));
    CHECK(order != iota(100));
    orders.push_back(order);
  }
  for (std::size_t a = 0; a < orders.size(); ++a)
    for (std::size_t b = a + 1; b < orders.size(); ++b) CHECK(orders[a] != orders[b]);
}

TEST_CASE("DataLoader's order depends only on the seed and the epoch", "[data][dataloader]") {
  IndexDataset data(50);
  DataLoader first(data, 8, true, 3), again(data, 8, true, 3), other_seed(data, 8, true, 4);
  auto epoch0 = pass(first);
  auto epoch1 = pass(first);
  auto epoch2 = pass(first);
  CHECK(pass(again) == epoch0);
  CHECK(pass(other_seed) != epoch0);
  // A run resumed at epoch 2 sees what the uninterrupted run saw.
  DataLoader resumed(data, 8, true, 3);
  resumed.set_epoch(2);
  CHECK(resumed.epoch() == 2);
  CHECK(pass(resumed) == epoch2);
  CHECK(pass(resumed) == pass(first));  // both at epoch 3 now
  resumed.set_epoch(1);
  CHECK(pass(resumed) == epoch1);
  // The batch size only cuts the same order differently.
  DataLoader wider(data, 20, true, 3);
  CHECK(flatten(pass(wider)) == flatten(epoch0));
  // The algorithm is pinned: changing it would change the batches of every resumed run.
  CHECK(DataLoader(IndexDataset(10), 10, true, 0).order(0) == std::vector<std::int64_t>{5, 2, 9, 6, 1, 8, 7, 3, 0, 4});
}

TEST_CASE("DataLoader's limit keeps the first samples", "[data][dataloader]") {
  IndexDataset data(30);
  DataLoader loader(data, 4, true, 1);
  loader.set_limit(10);
  CHECK(loader.num_samples() == 10);
  CHECK(loader.len() == 3);
  std::vector<std::int64_t> order = flatten(pass(loader));
  std::sort(order.begin(), order.end());
  CHECK(order == iota(10));
  loader.set_limit(1000);
  CHECK(loader.num_samples() == 30);
  loader.set_limit(0);
  CHECK(loader.len() == 0);
  CHECK_THROWS_AS(loader.set_limit(-1), tg::ValueError);
}

TEST_CASE("DataLoader refuses a batch size below 1", "[data][dataloader]") {
  IndexDataset data(5);
  CHECK_THROWS_AS(DataLoader(data, 0, false), tg::ValueError);
  CHECK_THROWS_WITH(DataLoader(data, -3, true), Catch::Contains("batch_size must be positive, got -3"));
}

TEST_CASE("DataLoader batches FashionMNIST into [n, 1, 28, 28] images and [n] labels", "[data][dataloader]") {
  tg::test::TempDir dir("dataloader_fmnist");
  tg::test::write_fashion_mnist(dir, 10, 1);
  tg::FashionMNIST data(dir.path.string());
  DataLoader loader(data, 4, true, 5);
  std::vector<Shape> shapes;
  std::int64_t samples = 0;
  for (const tg::Batch& batch : loader) {
    std::int64_t n = batch.labels().numel();
    shapes.push_back(batch.images().shape());
    CHECK(batch.labels().shape() == Shape{n});
    CHECK(batch.labels().dtype() == tg::kInt64);  // class indices, as PyTorch's DataLoader gives them
    // Each image is the one its label names: sample i has label i % 10 = i here.
    for (std::int64_t k = 0; k < n; ++k) {
      auto i = batch.labels().at<std::int64_t>({k});
      CHECK(batch.images().at({k, 0, 0, 0}) == static_cast<float>(tg::test::test_pixel(i, 0)) / 255.0f);
    }
    samples += n;
  }
  CHECK(shapes == std::vector<Shape>{Shape{4, 1, 28, 28}, Shape{4, 1, 28, 28}, Shape{2, 1, 28, 28}});
  CHECK(samples == 10);
}
