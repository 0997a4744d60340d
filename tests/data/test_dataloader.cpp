// SPDX-License-Identifier: MIT
// DataLoader: batch shapes, drop_last, limits, seeded shuffles that reproduce per epoch, and
// shards for data-parallel ranks (as torch.utils.data.distributed.DistributedSampler).
#include <algorithm>
#include <numeric>
#include <set>

#include "data/idx_test_util.hpp"
#include "test_util.hpp"

using tg::DataLoader;
using tg::Shape;
using Indices = std::vector<std::int64_t>;

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

// A TensorDataset whose images [n, 1, 1, 1] and labels [n] hold each sample's index, as
// IndexDataset's do.
tg::TensorDataset index_rows(std::int64_t n) {
  auto count = static_cast<double>(n);
  return tg::TensorDataset(tg::arange(count).reshape({n, 1, 1, 1}), tg::arange(count, {.dtype = tg::kInt64}));
}

// A loader (seed 0) that serves shard `rank` of `world_size`.
DataLoader sharded(const tg::Dataset& data, std::int64_t batch_size, bool shuffle, bool drop_last, int rank,
                   int world_size) {
  DataLoader loader(data, batch_size, shuffle, 0, drop_last);
  loader.set_shard(rank, world_size);
  return loader;
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

// The expected shards below are worked out by hand from DistributedSampler's algorithm:
//   total = ceil(n / W) W (drop_last: floor(n / W) W)
//   padding = total - n; indices += indices[:padding] if padding <= n
//                        else (indices * ceil(padding / n))[:padding]
//   (drop_last: indices = indices[:total]); rank r takes indices[r::W]

TEST_CASE("DataLoader's shards interleave to the whole epoch, as DistributedSampler's", "[data][dataloader]") {
  tg::TensorDataset ten = index_rows(10);
  DataLoader whole(ten, 3, true);
  CHECK(whole.shard_rank() == 0);
  CHECK(whole.shard_count() == 1);
  DataLoader one_rank = sharded(ten, 3, true, false, 0, 1);  // rank 0 of 1 is no sharding at all
  CHECK(one_rank.order(0) == whole.order(0));
  CHECK(pass(one_rank) == pass(whole));

  // Without shuffle the epoch is 0..9: rank 0 takes 0 2 4 6 8, rank 1 takes 1 3 5 7 9.
  DataLoader rank0 = sharded(ten, 3, false, false, 0, 2), rank1 = sharded(ten, 3, false, false, 1, 2);
  CHECK(rank1.shard_rank() == 1);
  CHECK(rank1.shard_count() == 2);
  CHECK(rank0.num_samples() == 5);
  CHECK(rank0.len() == 2);
  CHECK(pass(rank0) == std::vector<Indices>{{0, 2, 4}, {6, 8}});
  CHECK(pass(rank1) == std::vector<Indices>{{1, 3, 5}, {7, 9}});
  // With shuffle every rank computes the pinned permutation of seed 0, epoch 0,
  // 5 2 9 6 1 8 7 3 0 4, and takes every second sample of it.
  DataLoader shuffled0 = sharded(ten, 3, true, false, 0, 2), shuffled1 = sharded(ten, 3, true, false, 1, 2);
  CHECK(pass(shuffled0) == std::vector<Indices>{{5, 9, 1}, {7, 0}});
  CHECK(pass(shuffled1) == std::vector<Indices>{{2, 6, 8}, {3, 4}});

  // Epoch after epoch, the two shards interleaved are the unsharded order, without shuffle too.
  tg::TensorDataset hundred = index_rows(100);
  for (bool shuffle : {true, false}) {
    DataLoader all(hundred, 7, shuffle, 42), first(hundred, 7, shuffle, 42), second(hundred, 7, shuffle, 42);
    first.set_shard(0, 2);
    second.set_shard(1, 2);
    for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
      Indices a = flatten(pass(first)), b = flatten(pass(second));
      REQUIRE(a.size() == 50);
      REQUIRE(b.size() == 50);
      Indices interleaved;
      for (std::size_t k = 0; k < 50; ++k) interleaved.insert(interleaved.end(), {a[k], b[k]});
      CHECK(interleaved == all.order(epoch));
      CHECK(interleaved == flatten(pass(all)));
    }
  }
}

TEST_CASE("DataLoader's shards pad the epoch with its beginning, or cut it with drop_last", "[data][dataloader]") {
  // n = 5, W = 2: 0 1 2 3 4 is padded to 0 1 2 3 4 0, so rank 1 gets sample 0 again.
  tg::TensorDataset five = index_rows(5);
  DataLoader padded0 = sharded(five, 2, false, false, 0, 2), padded1 = sharded(five, 2, false, false, 1, 2);
  CHECK(padded1.num_samples() == 3);
  CHECK(padded1.len() == 2);
  CHECK(padded0.order(0) == Indices{0, 2, 4});
  CHECK(pass(padded0) == std::vector<Indices>{{0, 2}, {4}});
  CHECK(pass(padded1) == std::vector<Indices>{{1, 3}, {0}});
  // drop_last cuts 0 1 2 3 4 to 0 1 2 3.
  DataLoader cut0 = sharded(five, 2, false, true, 0, 2), cut1 = sharded(five, 2, false, true, 1, 2);
  CHECK(cut1.num_samples() == 2);
  CHECK(pass(cut0) == std::vector<Indices>{{0, 2}});
  CHECK(pass(cut1) == std::vector<Indices>{{1, 3}});
  // n = 7, W = 2, batch size 2, drop_last: 0..5 are left, and rank 0's 0 2 4 then loses its
  // partial batch [4] too.
  tg::TensorDataset seven = index_rows(7);
  DataLoader cut7 = sharded(seven, 2, false, true, 0, 2);
  CHECK(cut7.num_samples() == 3);
  CHECK(cut7.len() == 1);
  CHECK(cut7.order(0) == Indices{0, 2, 4});
  CHECK(pass(cut7) == std::vector<Indices>{{0, 2}});

  // Shuffled, n = 10, W = 3: 5 2 9 6 1 8 7 3 0 4 is padded with 5 2, or cut to its first 9.
  tg::TensorDataset ten = index_rows(10);
  std::vector<Indices> padded{{5, 6, 7, 4}, {2, 1, 3, 5}, {9, 8, 0, 2}}, cut{{5, 6, 7}, {2, 1, 3}, {9, 8, 0}};
  for (int rank = 0; rank < 3; ++rank) {
    CAPTURE(rank);
    CHECK(sharded(ten, 4, true, false, rank, 3).order(0) == padded[static_cast<std::size_t>(rank)]);
    CHECK(sharded(ten, 4, true, true, rank, 3).order(0) == cut[static_cast<std::size_t>(rank)]);
  }

  // The limit comes first: the first 5 of 30 samples are sharded as n = 5.
  tg::TensorDataset thirty = index_rows(30);
  DataLoader limited = sharded(thirty, 2, false, false, 1, 2);
  limited.set_limit(5);
  CHECK(pass(limited) == std::vector<Indices>{{1, 3}, {0}});
}

TEST_CASE("DataLoader's shards repeat the samples when there are fewer than ranks", "[data][dataloader]") {
  // n = 2, W = 5: padding 3 > 2, so (0 1 0 1)[:3] pads 0 1 to 0 1 0 1 0.
  // n = 3, W = 5: padding 2 <= 3 pads 0 1 2 to 0 1 2 0 1.
  // With drop_last, floor(n / W) = 0 samples for every rank.
  tg::TensorDataset two = index_rows(2), three = index_rows(3), one = index_rows(1);
  std::vector<Indices> two_of_five{{0}, {1}, {0}, {1}, {0}}, three_of_five{{0}, {1}, {2}, {0}, {1}};
  for (int rank = 0; rank < 5; ++rank) {
    CAPTURE(rank);
    auto r = static_cast<std::size_t>(rank);
    DataLoader a = sharded(two, 4, true, false, rank, 5), b = sharded(three, 4, false, false, rank, 5);
    CHECK(a.len() == 1);
    CHECK(pass(b) == std::vector<Indices>{three_of_five[r]});
    DataLoader dropped = sharded(three, 4, false, true, rank, 5);
    CHECK(dropped.num_samples() == 0);
    CHECK(dropped.len() == 0);
    CHECK(pass(dropped).empty());
    // Shuffled, 0 1 may come as 1 0; the padding repeats whichever comes first.
    Indices first_two = DataLoader(two, 4, true).order(0);
    CHECK(a.order(0) == Indices{first_two[static_cast<std::size_t>(two_of_five[r][0])]});
    CHECK(sharded(two, 4, false, false, rank, 5).order(0) == two_of_five[r]);
  }
  // n = 1, W = 4: padding 3 > 1 gives 0 0 0 0, the one sample on every rank.
  for (int rank = 0; rank < 4; ++rank) {
    DataLoader loader = sharded(one, 2, false, false, rank, 4);
    CHECK(pass(loader) == std::vector<Indices>{{0}});
  }
  // n = 0: nothing on any rank.
  IndexDataset none(0);
  DataLoader empty = sharded(none, 2, true, false, 1, 3);
  CHECK(empty.num_samples() == 0);
  CHECK(pass(empty).empty());
}

TEST_CASE("DataLoader's shards have as many samples and batches on every rank", "[data][dataloader]") {
  for (std::int64_t n = 0; n <= 11; ++n) {
    IndexDataset data(n);
    for (int world_size = 1; world_size <= 4; ++world_size)
      for (std::int64_t batch_size = 1; batch_size <= 3; ++batch_size)
        for (bool drop_last : {false, true}) {
          CAPTURE(n, world_size, batch_size, drop_last);
          // DistributedSampler's num_samples: total / W.
          std::int64_t w = world_size, samples = drop_last ? n / w : (n + w - 1) / w;
          std::int64_t batches = drop_last ? samples / batch_size : (samples + batch_size - 1) / batch_size;
          std::set<std::int64_t> seen;
          for (int rank = 0; rank < world_size; ++rank) {
            DataLoader loader = sharded(data, batch_size, true, drop_last, rank, world_size);
            CHECK(loader.num_samples() == samples);
            CHECK(loader.len() == batches);
            auto got = pass(loader);
            CHECK(static_cast<std::int64_t>(got.size()) == batches);
            for (const Indices& batch : got) CHECK(static_cast<std::int64_t>(batch.size()) <= batch_size);
            for (const Indices& batch : got) seen.insert(batch.begin(), batch.end());
          }
          // Without drop_last the ranks together see every sample (drop_last loses fewer than
          // W of them to the cut, and the last partial batches).
          if (!drop_last) CHECK(static_cast<std::int64_t>(seen.size()) == n);
        }
  }
}

TEST_CASE("DataLoader's shards change with the epoch and resume with set_epoch", "[data][dataloader]") {
  // n = 20, W = 3: the epoch's order is padded with its first sample; rank 1 takes samples
  // 1 4 ... 19 of it and rank 2 takes 2 5 ... 17 and then the padding, sample 0.
  tg::TensorDataset data = index_rows(20);
  DataLoader whole(data, 4, true, 9), rank1(data, 4, true, 9), rank2(data, 4, true, 9);
  rank1.set_shard(1, 3);
  rank2.set_shard(2, 3);
  auto epoch0 = pass(rank1), epoch1 = pass(rank1);
  CHECK(epoch0 != epoch1);
  for (std::uint64_t epoch : {0u, 1u}) {
    Indices all = whole.order(epoch), one, two;
    for (std::size_t i = 1; i < 20; i += 3) one.push_back(all[i]);
    for (std::size_t i = 2; i < 20; i += 3) two.push_back(all[i]);
    two.push_back(all[0]);
    CHECK(rank1.order(epoch) == one);
    CHECK(flatten(pass(rank2)) == two);
  }
  CHECK(flatten(epoch1) == rank1.order(1));
  rank1.set_epoch(1);
  CHECK(pass(rank1) == epoch1);
  rank1.set_epoch(0);
  CHECK(pass(rank1) == epoch0);
}

TEST_CASE("DataLoader's set_shard refuses a rank that is not 0 .. world_size - 1", "[data][dataloader]") {
  IndexDataset data(6);
  DataLoader loader(data, 2, false);
  CHECK_THROWS_AS(loader.set_shard(0, 0), tg::ValueError);
  CHECK_THROWS_AS(loader.set_shard(2, 2), tg::ValueError);
  CHECK_THROWS_AS(loader.set_shard(-1, 4), tg::ValueError);
  CHECK_THROWS_WITH(loader.set_shard(0, 0),
                    Catch::Contains("DataLoader::set_shard: world_size must be at least 1, got 0") &&
                        Catch::Contains("tg::dist::world_size()"));
  CHECK_THROWS_WITH(loader.set_shard(0, -2), Catch::Contains("set_shard: world_size must be at least 1, got -2"));
  CHECK_THROWS_WITH(loader.set_shard(2, 2), Catch::Contains("DataLoader::set_shard: rank 2 is not in [0, 2)") &&
                                                Catch::Contains("tg::dist::rank()"));
  CHECK_THROWS_WITH(loader.set_shard(-1, 4), Catch::Contains("set_shard: rank -1 is not in [0, 4)"));
  // A refused call leaves the loader as it was.
  CHECK(loader.shard_rank() == 0);
  CHECK(loader.shard_count() == 1);
  CHECK(loader.order(0) == iota(6));
}
