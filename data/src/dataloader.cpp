// SPDX-License-Identifier: MIT
#include "tapegrad/data/dataloader.hpp"

#include <algorithm>
#include <numeric>
#include <span>
#include <utility>

#include "tapegrad/error.hpp"
#include "tapegrad/generator.hpp"

namespace tg {

namespace {

// SplitMix64's finaliser: spreads nearby integers (seeds 0, 1, 2; epochs 0, 1, 2) far apart.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

}  // namespace

DataLoader::DataLoader(const Dataset& data, std::int64_t batch_size, bool shuffle, std::uint64_t seed, bool drop_last)
    : data_(data), batch_size_(batch_size), shuffle_(shuffle), seed_(seed), drop_last_(drop_last) {
  if (batch_size <= 0)
    fail<ValueError>("DataLoader: batch_size must be positive, got {}; pass a batch size >= 1", batch_size);
}

void DataLoader::set_limit(std::int64_t n) {
  if (n < 0)
    fail<ValueError>("DataLoader::set_limit: the limit must be non-negative, got {}; pass 0 or more samples", n);
  limit_ = n;
}

void DataLoader::set_shard(int rank, int world_size) {
  if (world_size < 1)
    fail<ValueError>(
        "DataLoader::set_shard: world_size must be at least 1, got {} (rank {}); pass the number of ranks, "
        "tg::dist::world_size()",
        world_size, rank);
  if (rank < 0 || rank >= world_size)
    fail<ValueError>(
        "DataLoader::set_shard: rank {} is not in [0, {}) for world_size {}; pass this process's rank, "
        "tg::dist::rank()",
        rank, world_size, world_size);
  shard_rank_ = rank;
  shard_count_ = world_size;
}

std::int64_t DataLoader::epoch_size() const { return limit_ < 0 ? data_.size() : std::min(limit_, data_.size()); }

// DistributedSampler's num_samples: ceil(n / W), or floor(n / W) with drop_last.
std::int64_t DataLoader::num_samples() const {
  std::int64_t n = epoch_size(), ranks = shard_count_;
  return drop_last_ ? n / ranks : (n + ranks - 1) / ranks;
}

std::int64_t DataLoader::len() const {
  std::int64_t n = num_samples();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

std::vector<std::int64_t> DataLoader::epoch_order(std::uint64_t epoch) const {
  std::vector<std::int64_t> order(static_cast<std::size_t>(epoch_size()));
  std::iota(order.begin(), order.end(), 0);
  if (!shuffle_) return order;
  // Fisher-Yates with tg::Generator, whose numbers are the same on every platform (unlike
  // std::shuffle's, which the standard leaves to the library).
  Generator gen(mix(seed_ ^ mix(epoch)));
  for (std::size_t i = order.size(); i > 1; --i) {
    auto j = static_cast<std::size_t>(gen.uniform() * static_cast<double>(i));  // uniform in [0, i)
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

std::vector<std::int64_t> DataLoader::order(std::uint64_t epoch) const {
  std::vector<std::int64_t> all = epoch_order(epoch);
  if (shard_count_ == 1) return all;
  // DistributedSampler pads the order with its own beginning, repeated whole as often as
  // needed (indices += indices[:padding], or (indices * k)[:padding] when padding > n): the
  // padded order is all[i % n]. drop_last cuts the order to floor(n / W) W instead, where
  // i < n anyway. Rank r takes padded[r::W]. (n = 0 leaves num_samples() = 0: no i % 0.)
  auto rank = static_cast<std::size_t>(shard_rank_), ranks = static_cast<std::size_t>(shard_count_);
  std::vector<std::int64_t> shard(static_cast<std::size_t>(num_samples()));
  for (std::size_t k = 0; k < shard.size(); ++k) shard[k] = all[(rank + k * ranks) % all.size()];
  return shard;
}

DataLoader::Iterator DataLoader::begin() {
  order_ = order(epoch_++);
  return {this, 0};
}

Batch DataLoader::Iterator::operator*() const {
  std::span<const std::int64_t> all(loader_->order_);
  auto first = static_cast<std::size_t>(batch_ * loader_->batch_size_);
  std::size_t count = std::min(static_cast<std::size_t>(loader_->batch_size_), all.size() - first);
  return loader_->data_.get(all.subspan(first, count));
}

}  // namespace tg
