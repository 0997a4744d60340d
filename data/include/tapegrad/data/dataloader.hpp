// SPDX-License-Identifier: MIT
#pragma once
// Mini-batches from a Dataset, as torch.utils.data.DataLoader:
//   tg::DataLoader loader(train_set, 64, /*shuffle=*/true, /*seed=*/1);
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const tg::Batch& batch : loader) { ... batch.images(), batch.labels() ... }
// Each pass over the loader is one epoch; a shuffled epoch's order depends only on the seed
// and the epoch number, so a run resumed at epoch E (set_epoch(E)) sees the same batches.
//
// Data-parallel training, as torch.utils.data.distributed.DistributedSampler: each rank
// passes the same seed and takes its own shard of every epoch,
//   loader.set_shard(tg::dist::rank(), tg::dist::world_size());
// and batch_size is then the batch of one rank (the global batch is world_size times it).
#include <cstdint>
#include <iterator>
#include <vector>

#include "tapegrad/data/dataset.hpp"

namespace tg {

class DataLoader {
 public:
  // Keeps a reference to `data`, which must outlive the loader.
  DataLoader(const Dataset& data, std::int64_t batch_size, bool shuffle, std::uint64_t seed = 0,
             bool drop_last = false);

  // The epoch the next pass uses (0 at first); every begin() uses it and then adds one.
  std::uint64_t epoch() const { return epoch_; }
  void set_epoch(std::uint64_t epoch) { epoch_ = epoch; }
  // Use only the first n samples (all of them if n >= the dataset's size), for quick runs.
  void set_limit(std::int64_t n);
  // Serve only shard `rank` of `world_size` (default: rank 0 of 1, the whole epoch). Every
  // epoch's order (after the limit) is padded by repeating its beginning up to a multiple of
  // world_size, or with drop_last cut down to one, and rank r takes the samples r,
  // r + world_size, r + 2 world_size, ... of it; batches are cut from those. Every rank thus
  // has the same number of samples and batches, and together the ranks see the whole epoch
  // (less the cut).
  // Throws ValueError unless world_size >= 1 and 0 <= rank < world_size.
  void set_shard(int rank, int world_size);
  int shard_rank() const { return shard_rank_; }
  int shard_count() const { return shard_count_; }

  std::int64_t batch_size() const { return batch_size_; }  // per rank
  // num_samples(), len() and order() count and list this rank's shard only.
  std::int64_t num_samples() const;  // samples per epoch, before drop_last drops a partial batch
  std::int64_t len() const;          // batches per epoch
  // The sample indices of `epoch`, in the order its batches take them.
  std::vector<std::int64_t> order(std::uint64_t epoch) const;

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    Iterator(const DataLoader* loader, std::int64_t batch) : loader_(loader), batch_(batch) {}
    Batch operator*() const;  // loads the batch
    Iterator& operator++() {
      ++batch_;
      return *this;
    }
    bool operator==(const Iterator& other) const { return batch_ == other.batch_; }

   private:
    const DataLoader* loader_;
    std::int64_t batch_;
  };
  // Starts a pass over epoch() and then advances epoch(). One pass at a time: a new
  // begin() replaces the order that earlier iterators read.
  Iterator begin();
  Iterator end() const { return {this, len()}; }

 private:
  std::int64_t epoch_size() const;  // samples per epoch over all ranks, after the limit
  std::vector<std::int64_t> epoch_order(std::uint64_t epoch) const;  // of all ranks, unpadded

  const Dataset& data_;
  std::int64_t batch_size_;
  bool shuffle_;
  std::uint64_t seed_;
  bool drop_last_;
  std::int64_t limit_ = -1;  // -1: the whole dataset
  int shard_rank_ = 0;
  int shard_count_ = 1;
  std::uint64_t epoch_ = 0;
  std::vector<std::int64_t> order_;  // of the current pass
};

}  // namespace tg
