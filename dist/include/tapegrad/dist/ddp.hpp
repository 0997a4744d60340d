// SPDX-License-Identifier: MIT
#pragma once
// DistributedDataParallel and SyncBatchNorm, as torch.nn.parallel.DistributedDataParallel and
// torch.nn.SyncBatchNorm. Every rank runs the same model on its own shard of each batch; DDP
// averages the gradients over the ranks during backward, so that after backward() every rank
// holds the gradient of the mean loss over the global batch and the optimizers stay in step.
//
//   tg::dist::Environment env(argc, argv);
//   auto net = std::make_shared<tg::Sequential>(...);
//   tg::dist::DistributedDataParallel ddp(net);      // rank 0's parameters and buffers everywhere
//   tg::SGD opt(ddp.parameters(), 0.1);
//   for (const tg::Batch& b : loader) {               // loader.set_shard(rank, world_size)
//     opt.zero_grad();
//     tg::cross_entropy(ddp(b.images()), b.labels()).backward();  // gradients averaged here
//     opt.step();
//   }
//   if (tg::dist::rank() == 0) tg::save_safetensors("net.safetensors", ddp.module().state_dict());
//
// How (docs/distributed.md): the parameters are cut into buckets of about bucket_cap_mb, in the
// reverse of parameters() order (roughly the order backward finishes them). A hook on each
// parameter (register_post_accumulate_grad_hook) copies its gradient into its bucket once
// backward has finished it; a full bucket is sent to be averaged at once (buckets in order,
// the same on every rank) on the communication thread, while backward computes the rest. At
// the end of backward (Tape::queue_callback) DDP waits for every bucket and copies the
// averages back into .grad.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/dist/dist.hpp"
#include "tapegrad/layers/batchnorm.hpp"
#include "tapegrad/layers/module.hpp"

namespace tg::dist {

struct DDPOptions {
  // A bucket's size in MiB (PyTorch's default 25). Smaller buckets start sending sooner and
  // cost one collective each.
  double bucket_cap_mb = 25;
  // Parameters that got no gradient in a backward (a branch not taken): with false, as in
  // PyTorch, that is an error naming them; with true they count as zero on that rank, and a
  // parameter no rank used keeps its .grad as it was.
  bool find_unused_parameters = false;
  // Copy rank 0's buffers (BatchNorm's running statistics) to every rank at each training-mode
  // forward(), as PyTorch's broadcast_buffers.
  bool broadcast_buffers = true;
  // Sum the buckets in rank order (ReduceOptions::fixed_order): the same bits on every run.
  bool fixed_order = false;
  // Send each bucket as soon as it is full (overlapping backward); false sends them all at
  // the end of backward. Both give the same numbers.
  bool overlap = true;
};

class DistributedDataParallel : public Module {
 public:
  // Needs a live Environment. Broadcasts rank 0's parameters and buffers (the ranks must
  // have built the same model: a different parameter list is a DistError naming it).
  explicit DistributedDataParallel(std::shared_ptr<Module> module, DDPOptions options = {});
  ~DistributedDataParallel() override;

  // module(x), after broadcasting the buffers (training mode, broadcast_buffers). A model
  // whose forward takes something else is called as ddp.module()(...): the gradients are
  // averaged all the same, since that happens in backward.
  Tensor forward(const Tensor& x) override;
  Module& module() { return *module_; }
  const Module& module() const { return *module_; }
  std::shared_ptr<Module> module_ptr() const { return module_; }

  // Copies rank 0's buffers to every rank now.
  void sync_buffers();

  // While a NoSync lives, backward only accumulates into .grad, as DDP.no_sync(): gradient
  // accumulation over several micro-batches, with one averaging at the last backward.
  class NoSync {
   public:
    explicit NoSync(DistributedDataParallel& ddp) : ddp_(ddp), was_(ddp.sync_) { ddp_.sync_ = false; }
    ~NoSync() { ddp_.sync_ = was_; }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DistributedDataParallel& ddp_;
    bool was_;
  };
  NoSync no_sync() { return NoSync(*this); }

  // The buckets: for each, the names of its parameters (as named_parameters() of the inner
  // module), in the order they are sent.
  std::vector<std::vector<std::string>> buckets() const;
  // The number of buckets the last backward sent from inside the sweep, before its end (the
  // others were sent at the end): how much communication could overlap.
  int buckets_sent_early() const { return sent_early_; }

 private:
  struct Slot {
    std::string name;
    Tensor param;
    int bucket;
    std::int64_t offset;  // in the bucket's flat buffer, in elements
    int hook = -1;
    bool ready = false, used = false;
  };
  struct Bucket {
    std::vector<int> slots;
    Tensor flat;  // the gradients, end to end
    int pending = 0;
    bool sent = false;
    Work work;
  };
  void on_gradient(int slot);
  void send_ready_buckets();
  void send(int bucket);
  void finish();  // at the end of backward

  std::shared_ptr<Module> module_;
  DDPOptions options_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  int next_to_send_ = 0;
  bool in_backward_ = false;  // a hook fired; finish() is queued
  bool sync_ = true;
  int sent_early_ = 0;
};

// BatchNorm whose training-mode statistics are taken over the global batch: every rank's
// count, per-channel sum and sum of squared deviations are added over the ranks (three small
// all-reduces), and the backward adds their gradients over the ranks too (two more). Without an
// Environment, or with one rank, it is BatchNorm exactly. In eval mode it uses the running
// statistics, which are the same on every rank. state_dict names are BatchNorm's, so a
// checkpoint loads into BatchNorm2D for inference on one machine.
class SyncBatchNorm : public BatchNorm {
 public:
  explicit SyncBatchNorm(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true);
  Tensor forward(const Tensor& x) override;

 protected:
  void check_input(const Tensor& x) const override;  // [N, C, ...]
};

}  // namespace tg::dist
