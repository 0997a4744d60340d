#include "tapegrad/tape.hpp"

#include <algorithm>
#include <atomic>
#include <utility>

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

namespace {

thread_local bool grad_enabled = true;

// Entry ids are unique across threads, so a tensor recorded on another thread's tape is
// never mistaken for one of ours: find() simply does not know its id. Each thread takes
// ids in blocks, so recording an op does not touch a shared atomic.
std::uint64_t next_entry_id() {
  constexpr std::uint64_t kBlock = 1 << 16;
  static std::atomic<std::uint64_t> next_block{1};
  thread_local std::uint64_t next = 0, end = 0;
  if (next == end) {
    next = next_block.fetch_add(kBlock, std::memory_order_relaxed);
    end = next + kBlock;
  }
  return next++;
}

// True when no other handle or view shares t's data, so writing to it in place is safe.
bool sole_owner(const Tensor& t) { return t.impl_ptr().use_count() == 1 && t.impl().storage.use_count() == 1; }

// A leaf's .grad += g, where .grad may still be empty. A gradient that is shared with
// anything else (an output gradient passed straight through, a user's tensor, another
// leaf's .grad) is copied before it is stored: the user and the optimizer write to
// .grad in place, and that must never reach someone else's data.
void accumulate_leaf(Tensor& acc, Tensor g) {
  if (!acc.defined()) {
    acc = sole_owner(g) ? std::move(g) : g.clone();  // backward() runs with grad mode off: clone() records nothing
  } else {
    acc.add_(g);
  }
}

// An intermediate gradient slot += g. Slots are private to backward(), so g is stored as
// it is, shared or not (add's da = dy passes dy on without a copy). A second contribution
// is added in place only when nothing else holds the slot's buffer; otherwise the sum
// goes to a new tensor.
void accumulate_slot(Tensor& acc, Tensor g) {
  if (!acc.defined()) {
    acc = std::move(g);
  } else if (sole_owner(acc)) {
    acc.add_(g);
  } else {
    acc = acc + g;
  }
}

// Scratch vectors of backward() are kept for the next call, unless they grew large.
constexpr std::size_t kMaxKeptScratch = std::size_t{1} << 16;

}  // namespace

bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool enabled) { grad_enabled = enabled; }

bool Gradients::needs(int input) const { return entry_.inputs[static_cast<std::size_t>(input)].tensor != nullptr; }

void Gradients::accumulate(int input, Tensor grad) {
  const TapeInput& in = entry_.inputs[static_cast<std::size_t>(input)];
  if (!in.tensor) return;
  if (!(grad.shape() == in.tensor->shape)) grad = sum_to(grad, in.tensor->shape);  // undo broadcasting
  if (grad.dtype() != in.tensor->dtype) grad = grad.to(in.tensor->dtype);
  if (in.producer >= 0) {
    accumulate_slot(slots_[static_cast<std::size_t>(in.producer)], std::move(grad));
  } else {
    Tensor leaf_grad(std::move(in.tensor->grad));
    accumulate_leaf(leaf_grad, std::move(grad));
    in.tensor->grad = leaf_grad.impl_ptr();
  }
}

Tape& Tape::current() {
  thread_local Tape tape;
  return tape;
}

// The tensors computed so far keep the ids of entries that are gone, so a later backward()
// through them finds nothing and says that the tape was cleared.
void Tape::clear() {
  entries_.clear();
  prune_at_ = kMinPruneAt;
}

void Tape::record(const char* op, TensorRefs inputs, Tensor& output, BackwardFn&& backward) {
  if (entries_.size() >= prune_at_) prune();
  if (inputs.size() > TapeInputs::kMax)
    fail<AutogradError>("record: op {} has {} inputs, but a tape entry holds at most {}; pass fewer tensors", op,
                        inputs.size(), TapeInputs::kMax);
  TapeEntry& e = entries_.emplace_back();
  e.id = next_entry_id();
  e.op = op;
  for (const Tensor& t : inputs) e.inputs.push_back({t.defined() && t.requires_grad() ? t.impl_ptr() : nullptr, -1});
  e.output = output.impl_ptr();
  e.backward = std::move(backward);
  TensorImpl& out = output.impl();
  out.requires_grad = true;
  out.entry = e.id;
  out.op = op;
}

// Note: a producer usually sits just before its consumer, so the search gallops down
// from `below` (1, 2, 4, ... entries back) before it bisects: O(log distance), not
// O(log size), which keeps backward() linear in the length of the tape.
std::int64_t Tape::find(std::uint64_t id, std::int64_t below) const {
  std::int64_t hi = std::min<std::int64_t>(below, static_cast<std::int64_t>(entries_.size()));  // ids[hi..] > id
  std::int64_t lo = hi;
  for (std::int64_t step = 1; lo > 0; step *= 2) {
    lo = std::max<std::int64_t>(hi - step, 0);
    if (entries_[static_cast<std::size_t>(lo)].id <= id) break;
    hi = lo;
  }
  auto it = std::lower_bound(entries_.begin() + lo, entries_.begin() + hi, id,
                             [](const TapeEntry& e, std::uint64_t v) { return e.id < v; });
  return it != entries_.begin() + hi && it->id == id ? it - entries_.begin() : -1;
}

// Walking from the end, an entry whose output has expired can never receive a gradient;
// dropping it releases its inputs, which may expire earlier outputs in turn, so one
// reverse pass collects whole dead chains (results computed and thrown away).
void Tape::prune() {
  std::vector<char> dead(entries_.size(), 0);
  for (std::size_t i = entries_.size(); i-- > 0;) {
    if (entries_[i].output.expired()) {
      dead[i] = 1;
      entries_[i].backward = nullptr;
      entries_[i].inputs.clear();
    }
  }
  free_entries(dead);
}

void Tape::free_entries(const std::vector<char>& used) {
  std::size_t keep = 0;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (i < used.size() && used[i]) continue;
    if (keep != i) entries_[keep] = std::move(entries_[i]);
    ++keep;
  }
  entries_.resize(keep);
  // Note: the next prune is due when the tape has doubled from what is live now, not from
  // its largest size ever: after one big graph, dead entries must not pile up to twice it.
  prune_at_ = std::max(kMinPruneAt, 2 * entries_.size());
}

void Tape::backward(const Tensor& root, const Tensor& seed, bool retain_graph) {
  TensorImpl& r = root.impl();
  if (!r.requires_grad)
    fail<AutogradError>(
        "backward: the tensor {} does not require grad and was not computed from one that does; call "
        "requires_grad_() on the leaves (parameters) before computing it, outside NoGradGuard",
        r.shape);
  Tensor g0;
  if (seed.defined()) {
    if (!(seed.shape() == r.shape))
      fail<ShapeError>("backward: seed gradient has shape {} but the tensor has shape {}; pass a seed of shape {}",
                       seed.shape(), r.shape, r.shape);
    g0 = seed.to(r.dtype);
  } else {
    if (r.shape.numel() != 1)
      fail<AutogradError>(
          "backward: grad can be implicitly created only for a one-element tensor, but this one has shape {}; "
          "pass a seed gradient of that shape, e.g. y.backward(tg::ones_like(y)), or reduce it with sum()",
          r.shape);
    g0 = ones(r.shape, {.dtype = r.dtype});
  }
  NoGradGuard no_grad;  // backward closures compute with ops, which must not record

  if (r.entry == 0) {  // a leaf: its gradient is the seed itself
    Tensor leaf_grad(std::move(r.grad));
    accumulate_leaf(leaf_grad, g0);
    r.grad = leaf_grad.impl_ptr();
    return;
  }
  const char* freed_hint =
      "the tape entries that computed it were freed by an earlier backward(); pass retain_graph = true to the "
      "first backward() to go through the same graph twice";
  if (r.graph_freed) fail<AutogradError>("backward: cannot backward through {} a second time: {}", r.shape, freed_hint);
  std::int64_t top = find(r.entry, static_cast<std::int64_t>(entries_.size()));
  if (top < 0)
    fail<AutogradError>(
        "backward: the tensor {} is not on this thread's tape (the tape was cleared, or it was computed on "
        "another thread); recompute it on this thread",
        r.shape);

  // Pass 1: mark the entries the root depends on and check that none of them is gone,
  // before any gradient is touched, so a failing backward() changes nothing.
  std::vector<char> used = std::exchange(used_scratch_, {});
  used.assign(static_cast<std::size_t>(top) + 1, 0);
  used[static_cast<std::size_t>(top)] = 1;
  for (std::int64_t i = top; i >= 0; --i) {
    if (!used[static_cast<std::size_t>(i)]) continue;
    for (TapeInput& in : entries_[static_cast<std::size_t>(i)].inputs) {
      if (!in.tensor || in.tensor->entry == 0) continue;
      if (in.tensor->graph_freed)
        fail<AutogradError>("backward: an intermediate tensor {} used by {} cannot be backpropagated: {}",
                            in.tensor->shape, entries_[static_cast<std::size_t>(i)].op, freed_hint);
      in.producer = find(in.tensor->entry, i);
      if (in.producer < 0)
        fail<AutogradError>(
            "backward: the tensor {} used by {} is not on this thread's tape (cleared, or from "
            "another thread); recompute it on this thread",
            in.tensor->shape, entries_[static_cast<std::size_t>(i)].op);
      used[static_cast<std::size_t>(in.producer)] = 1;
    }
  }

  // Pass 2: one reverse sweep. slots[i] accumulates the gradient of entry i's output;
  // by the time the sweep reaches i, every consumer of that output has contributed.
  std::vector<Tensor> slots = std::exchange(slot_scratch_, {});
  slots.assign(used.size(), Tensor());
  slots[static_cast<std::size_t>(top)] = g0;
  // Note: each output is looked at once (a weak_ptr lock is an atomic operation), both to
  // keep its gradient if it asked to and to mark its graph consumed. If a closure throws,
  // the entries already swept stay marked, as their gradients have been passed on.
  for (std::int64_t i = top; i >= 0; --i) {
    if (!used[static_cast<std::size_t>(i)]) continue;
    TapeEntry& e = entries_[static_cast<std::size_t>(i)];
    auto out = e.output.lock();
    if (out && !retain_graph) out->graph_freed = true;
    if (!slots[static_cast<std::size_t>(i)].defined()) continue;
    // Taken out of its slot: an intermediate gradient is not needed once passed on.
    Tensor dy = std::move(slots[static_cast<std::size_t>(i)]);
    if (out && out->retains_grad) {
      Tensor kept(std::move(out->grad));
      accumulate_leaf(kept, dy);
      out->grad = kept.impl_ptr();
    }
    out.reset();
    Gradients inputs(e, slots);
    e.backward(dy, inputs);
  }
  if (!retain_graph) free_entries(used);
  if (used.capacity() <= kMaxKeptScratch) used_scratch_ = std::move(used);
  if (slots.capacity() <= kMaxKeptScratch) slot_scratch_ = std::move(slots);
}

}  // namespace tg
