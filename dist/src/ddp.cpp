// SPDX-License-Identifier: MIT
#include "tapegrad/dist/ddp.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "tapegrad/ops.hpp"
#include "tapegrad/ops/normalization.hpp"
#include "tapegrad/tape.hpp"

namespace tg::dist {

namespace {
std::size_t bytes_of(Dtype dtype) { return dtype == kFloat32 ? 4 : 8; }
}  // namespace

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<Module> module, DDPOptions options)
    : module_(std::move(module)), options_(options) {
  if (!module_) fail<ValueError>("DistributedDataParallel: the module is null; pass the model to wrap");
  if (!is_initialized())
    fail<DistError>(
        "DistributedDataParallel: no tg::dist::Environment is alive; create one at the start of main() "
        "(tg::dist::Environment env(argc, argv);) and start the program with mpirun -np N");
  if (!(options_.bucket_cap_mb > 0))
    fail<ValueError>("DistributedDataParallel: bucket_cap_mb must be positive, got {}; the default is 25",
                     options_.bucket_cap_mb);
  register_module("module", module_);

  // The same model everywhere: the count of parameters first (a cheap, clear check), then each
  // tensor is broadcast, which checks its size and dtype.
  std::vector<std::pair<std::string, Tensor>> params = module_->named_parameters();
  Tensor count = tensor({static_cast<double>(params.size())}, {.dtype = kFloat64});
  Tensor low = count.clone(), high = count.clone();
  all_reduce_(low, ReduceOp::kMin);
  all_reduce_(high, ReduceOp::kMax);
  if (low.item<double>() != high.item<double>())
    fail<DistError>(
        "DistributedDataParallel: rank {} has {} parameters but another rank has {}; every rank must build the "
        "same model",
        rank(), params.size(), low.item<double>() == count.item<double>() ? high.item<double>() : low.item<double>());
  {
    NoGradGuard no_grad;
    for (auto& [name, p] : params) {
      if (p.dtype() != kFloat32 && p.dtype() != kFloat64)
        fail<DtypeError>("DistributedDataParallel: parameter {} is {}; DDP averages float32 and float64 gradients",
                         name, dtype_name(p.dtype()));
      broadcast_(p, 0);
    }
    for (auto& [name, b] : module_->named_buffers()) broadcast_(b, 0);
  }

  // Buckets, in the reverse of parameters() order, split where the cap is reached or the
  // dtype changes. PyTorch also makes its first bucket small (1 MiB) so that the first
  // send starts early; so do we.
  const double cap = options_.bucket_cap_mb * 1024 * 1024;
  double bucket_bytes = 0;
  for (std::size_t k = params.size(); k-- > 0;) {
    auto& [name, p] = params[k];
    if (!p.requires_grad()) continue;
    const double bytes = static_cast<double>(p.numel()) * static_cast<double>(bytes_of(p.dtype()));
    const double this_cap = buckets_.size() <= 1 ? std::min(cap, 1024.0 * 1024.0) : cap;
    bool fresh = buckets_.empty() || bucket_bytes >= this_cap ||
                 slots_[static_cast<std::size_t>(buckets_.back().slots.back())].param.dtype() != p.dtype();
    if (fresh) {
      buckets_.emplace_back();
      bucket_bytes = 0;
    }
    Bucket& b = buckets_.back();
    std::int64_t offset = 0;
    if (!b.slots.empty()) {
      const Slot& last = slots_[static_cast<std::size_t>(b.slots.back())];
      offset = last.offset + last.param.numel();
    }
    slots_.push_back({name, p, static_cast<int>(buckets_.size()) - 1, offset});
    b.slots.push_back(static_cast<int>(slots_.size()) - 1);
    bucket_bytes += bytes;
  }
  for (Bucket& b : buckets_) {
    const Slot& last = slots_[static_cast<std::size_t>(b.slots.back())];
    b.flat = zeros({last.offset + last.param.numel()}, {.dtype = last.param.dtype()});
  }
  for (std::size_t s = 0; s < slots_.size(); ++s)
    slots_[s].hook =
        slots_[s].param.register_post_accumulate_grad_hook([this, s](Tensor&) { on_gradient(static_cast<int>(s)); });
}

DistributedDataParallel::~DistributedDataParallel() {
  for (Slot& s : slots_)
    if (s.hook >= 0) s.param.remove_hook(s.hook);
  for (Bucket& b : buckets_) b.work = Work();  // waits for a send still in flight
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  if (options_.broadcast_buffers && is_training()) sync_buffers();
  return (*module_)(x);
}

// All the buffers of one dtype in one broadcast (a ResNet-18 has 60), as PyTorch coalesces them.
void DistributedDataParallel::sync_buffers() {
  NoGradGuard no_grad;
  std::vector<Tensor> buffers = module_->buffers();
  for (Dtype dtype : {kFloat32, kFloat64, kInt64, kBool}) {
    std::int64_t total = 0;
    for (const Tensor& b : buffers)
      if (b.dtype() == dtype) total += b.numel();
    if (total == 0) continue;  // the same on every rank: they built the same model
    Tensor flat = empty({total}, {.dtype = dtype});
    const std::size_t bytes = dtype == kBool ? 1 : bytes_of(dtype);
    auto* p = static_cast<unsigned char*>(flat.raw_data());
    for (const Tensor& b : buffers)
      if (b.dtype() == dtype) {
        std::memcpy(p, b.raw_data(), static_cast<std::size_t>(b.numel()) * bytes);
        p += static_cast<std::size_t>(b.numel()) * bytes;
      }
    broadcast_(flat, 0);
    if (rank() == 0) continue;
    p = static_cast<unsigned char*>(flat.raw_data());
    for (const Tensor& b : buffers)
      if (b.dtype() == dtype) {
        std::memcpy(b.raw_data(), p, static_cast<std::size_t>(b.numel()) * bytes);
        p += static_cast<std::size_t>(b.numel()) * bytes;
        b.bump_version();
      }
  }
}

std::vector<std::vector<std::string>> DistributedDataParallel::buckets() const {
  std::vector<std::vector<std::string>> out;
  for (const Bucket& b : buckets_) {
    out.emplace_back();
    for (int s : b.slots) out.back().push_back(slots_[static_cast<std::size_t>(s)].name);
  }
  return out;
}

// A parameter's gradient is complete for this backward: into its bucket.
void DistributedDataParallel::on_gradient(int index) {
  if (!sync_) return;
  if (!in_backward_) {
    // The first gradient of this backward: start afresh, and wait for the rest at its end.
    in_backward_ = true;
    next_to_send_ = 0;
    sent_early_ = 0;
    for (Slot& s : slots_) s.ready = s.used = false;
    for (Bucket& b : buckets_) {
      b.pending = static_cast<int>(b.slots.size());
      b.sent = false;
    }
    Tape::current().queue_callback([this] { finish(); });
  }
  Slot& s = slots_[static_cast<std::size_t>(index)];
  if (s.ready) return;  // a second delivery in the same backward (cannot happen, but harmless)
  Tensor g = s.param.grad();
  Bucket& b = buckets_[static_cast<std::size_t>(s.bucket)];
  const std::size_t bytes = bytes_of(s.param.dtype());
  auto* dst = static_cast<unsigned char*>(b.flat.raw_data()) + static_cast<std::size_t>(s.offset) * bytes;
  if (g.defined()) {
    Tensor src = g.dtype() == s.param.dtype() ? g : g.to(s.param.dtype());
    std::memcpy(dst, src.raw_data(), static_cast<std::size_t>(s.param.numel()) * bytes);
    s.used = true;
  } else {
    std::memset(dst, 0, static_cast<std::size_t>(s.param.numel()) * bytes);
  }
  s.ready = true;
  --b.pending;
  if (options_.overlap) {
    int before = next_to_send_;
    send_ready_buckets();
    sent_early_ += next_to_send_ - before;
  }
}

void DistributedDataParallel::send_ready_buckets() {
  while (next_to_send_ < static_cast<int>(buckets_.size()) &&
         buckets_[static_cast<std::size_t>(next_to_send_)].pending == 0)
    send(next_to_send_++);
}

void DistributedDataParallel::send(int index) {
  Bucket& b = buckets_[static_cast<std::size_t>(index)];
  b.sent = true;
  b.work = all_reduce_async_(b.flat, {.op = ReduceOp::kMean, .fixed_order = options_.fixed_order});
}

void DistributedDataParallel::finish() {
  in_backward_ = false;
  // Parameters that got no gradient in this backward.
  std::vector<std::string> missing;
  for (Slot& s : slots_)
    if (!s.ready) missing.push_back(s.name);
  if (!missing.empty() && !options_.find_unused_parameters) {
    // Every rank that skipped the same parameters stops here, before sending the buckets that
    // hold them (buckets go in order), so no rank waits in a collective the others never make.
    for (Bucket& b : buckets_) b.work = Work();
    fail<DistError>(
        "DistributedDataParallel: backward gave no gradient to {} parameter(s) ({}{}) on rank {}; if the model does "
        "not use every parameter in every step, construct DDP with {{.find_unused_parameters = true}}",
        missing.size(), fmt::join(missing.begin(), missing.begin() + std::min<std::ptrdiff_t>(5, missing.size()), ", "),
        missing.size() > 5 ? ", ..." : "", rank());
  }
  for (Slot& s : slots_) {
    if (s.ready) continue;
    Bucket& b = buckets_[static_cast<std::size_t>(s.bucket)];
    const std::size_t bytes = bytes_of(s.param.dtype());
    std::memset(static_cast<unsigned char*>(b.flat.raw_data()) + static_cast<std::size_t>(s.offset) * bytes, 0,
                static_cast<std::size_t>(s.param.numel()) * bytes);
    s.ready = true;
    --b.pending;
  }
  send_ready_buckets();
  // With unused parameters allowed, which ones some rank used (the others keep their .grad).
  Tensor used_anywhere;
  if (options_.find_unused_parameters) {
    used_anywhere = zeros({static_cast<std::int64_t>(slots_.size())}, {.dtype = kInt64});
    std::int64_t* u = used_anywhere.data<std::int64_t>();
    for (std::size_t k = 0; k < slots_.size(); ++k) u[k] = slots_[k].used ? 1 : 0;
    all_reduce_async_(used_anywhere, {.op = ReduceOp::kMax}).wait();
  }
  for (Bucket& b : buckets_) b.work.wait();
  NoGradGuard no_grad;
  for (std::size_t k = 0; k < slots_.size(); ++k) {
    Slot& s = slots_[k];
    if (used_anywhere.defined() && used_anywhere.data<std::int64_t>()[k] == 0) continue;
    Bucket& b = buckets_[static_cast<std::size_t>(s.bucket)];
    const std::size_t bytes = bytes_of(s.param.dtype());
    Tensor g = s.param.grad();
    if (!g.defined() || g.dtype() != s.param.dtype()) {
      g = empty(s.param.shape(), {.dtype = s.param.dtype()});
      s.param.set_grad(g);
    }
    std::memcpy(g.raw_data(),
                static_cast<unsigned char*>(b.flat.raw_data()) + static_cast<std::size_t>(s.offset) * bytes,
                static_cast<std::size_t>(s.param.numel()) * bytes);
    g.bump_version();
  }
}

// ---- SyncBatchNorm ----

SyncBatchNorm::SyncBatchNorm(std::int64_t num_features, double eps, double momentum, bool affine)
    : BatchNorm("SyncBatchNorm", num_features, eps, momentum, affine) {}

void SyncBatchNorm::check_input(const Tensor& x) const {
  if (x.dim() < 2)
    fail<ShapeError>("SyncBatchNorm: expected an input [N, C, ...] of at least 2 dims, got shape {}", x.shape());
}

// With the global count n, sum S and centred sum of squares Q (all over the ranks):
//   mean = S / n,  var = Q / n (biased, for normalising; n / (n - 1) var for running_var),
//   y = (x - mean) / sqrt(var + eps) * weight + bias.
// S and Q go through all_reduce_sum, whose backward adds their gradients over the ranks: the
// backward of the whole is then exactly BatchNorm's on the global batch. Q is taken around the
// global mean (a second all-reduce) rather than as a sum of squares minus n mean^2, which
// loses the variance to cancellation when the mean is large.
Tensor SyncBatchNorm::forward(const Tensor& x) {
  check_input(x);
  if (x.size(1) != running_mean.size(0))
    fail<ShapeError>("SyncBatchNorm: input {} has {} channels (dim 1) but the layer was built for num_features = {}",
                     x.shape(), x.size(1), running_mean.size(0));
  if (!is_training() || !is_initialized() || world_size() == 1) return BatchNorm::forward(x);
  const std::int64_t channels = x.size(1);
  Shape stat_shape;
  for (int d = 0; d < x.dim(); ++d) stat_shape.push_back(d == 1 ? channels : 1);
  Tensor count = tensor({static_cast<double>(x.numel() / channels)}, {.dtype = kFloat64});
  all_reduce_async_(count).wait();  // one number on every rank: no shape check needed
  const double n = count.item<double>();
  if (n <= 1)
    fail<ValueError>(
        "SyncBatchNorm: training needs more than one value per channel over all ranks, got input {} on rank {} "
        "({} values in all); use a larger batch, or eval() mode",
        x.shape(), rank(), n);
  // Per-channel sums as [N, C, S] summed over S, then over N: two plain reductions, much faster
  // than one sum_to over the dims around C.
  const std::int64_t spatial = x.numel() / std::max<std::int64_t>(x.size(0) * channels, 1);
  auto channel_sum = [&](const Tensor& t) {
    return reshape(sum(sum(reshape(t, {x.size(0), channels, spatial}), 2), 0), stat_shape);
  };
  Tensor mean = detail::all_reduce_sum_unchecked(channel_sum(x)) / n;
  Tensor centred = x - mean;
  Tensor var = detail::all_reduce_sum_unchecked(channel_sum(centred * centred)) / n;
  Tensor y = centred * rsqrt(var + eps);
  if (weight.defined()) y = y * reshape(weight, stat_shape) + reshape(bias, stat_shape);
  {
    NoGradGuard no_grad;
    Tensor m = reshape(mean.detach(), {channels}).to(running_mean.dtype());
    Tensor v = (reshape(var.detach(), {channels}) * (n / (n - 1))).to(running_var.dtype());
    running_mean *= 1 - momentum;
    running_mean += m * momentum;
    running_var *= 1 - momentum;
    running_var += v * momentum;
    num_batches_tracked += 1;
  }
  return y;
}

}  // namespace tg::dist
