#include "tapegrad/tape.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <utility>

#include <fmt/core.h>

#include "tapegrad/error.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

namespace {

thread_local bool grad_enabled = true;
thread_local bool anomaly_enabled = false;
thread_local BackwardObserver* observer = nullptr;
thread_local std::vector<const std::string*> scopes;
// Buffers noted by save() since the last record(): charged to the next entry.
thread_local std::vector<std::pair<const void*, std::size_t>> pending_saved;

std::atomic<std::size_t> warning_threshold{1'000'000};
std::mutex handler_mutex;
std::function<void(const std::string&)> warning_handler;  // empty: print to stderr

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

// Tape ids are never reused, not even after a thread exits and a new thread's tape takes
// the old one's address: a tensor of a finished thread must not pass for one of ours.
std::uint32_t next_tape_id() {
  static std::atomic<std::uint32_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

// The error for a tensor that requires grad and was computed on another thread's tape.
[[noreturn]] void fail_other_tape(const char* op, const char* what, const TensorImpl& t) {
  fail<AutogradError>(
      "{}: {} {} (computed by {}) was recorded on another thread's tape; a graph belongs to the thread "
      "that computed it. Use t.detach() to pass its values without a gradient, or run the whole forward and "
      "backward on one thread",
      op, what, t.shape, t.op ? t.op : "an op");
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

// The number of NaN and Inf values in t (float tensors only).
std::int64_t count_non_finite(const Tensor& t) {
  std::int64_t bad = 0;
  dispatch(t.dtype(), [&]<class T>() {
    const T* p = t.data<T>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) bad += !std::isfinite(p[i]);
  });
  return bad;
}

std::string where(const TapeEntry& e) { return e.where.empty() ? "outside any module" : "in module " + e.where; }

// g after each hook of t (a defined result replaces it).
Tensor run_hooks(const TensorImpl& t, Tensor g) {
  for (const auto& [handle, hook] : t.hooks) {
    Tensor r = hook(g);
    if (!r.defined()) continue;
    if (!(r.shape() == g.shape()))
      fail<ShapeError>(
          "backward: hook {} of a tensor {} returned a gradient of shape {}; a hook must return a tensor of the "
          "gradient's shape {} (or an undefined Tensor() to keep it)",
          handle, t.shape, r.shape(), g.shape());
    g = r.dtype() == t.dtype ? std::move(r) : r.to(t.dtype);
  }
  return g;
}

// Scratch vectors of backward() are kept for the next call, unless they grew large.
constexpr std::size_t kMaxKeptScratch = std::size_t{1} << 16;

}  // namespace

bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool enabled) { grad_enabled = enabled; }

DetectAnomalyGuard::DetectAnomalyGuard() : previous_(anomaly_enabled) { anomaly_enabled = true; }
DetectAnomalyGuard::~DetectAnomalyGuard() { anomaly_enabled = previous_; }
bool is_anomaly_enabled() { return anomaly_enabled; }

ObserveBackward::ObserveBackward(BackwardObserver& o) : previous_(observer) { observer = &o; }
ObserveBackward::~ObserveBackward() { observer = previous_; }

ScopeGuard::ScopeGuard(const std::string& name) { scopes.push_back(&name); }
ScopeGuard::~ScopeGuard() { scopes.pop_back(); }

std::string current_scope() {
  std::string path;
  for (const std::string* s : scopes) {
    if (s->empty()) continue;
    if (!path.empty()) path += '.';
    path += *s;
  }
  return path;
}

void set_tape_warning_threshold(std::size_t entries) { warning_threshold = entries; }
std::size_t tape_warning_threshold() { return warning_threshold; }

void set_warning_handler(std::function<void(const std::string&)> handler) {
  std::lock_guard lock(handler_mutex);
  warning_handler = std::move(handler);
}

void warn(const std::string& message) {
  std::lock_guard lock(handler_mutex);
  if (warning_handler)
    warning_handler(message);
  else
    fmt::print(stderr, "tapegrad warning: {}\n", message);
}

namespace detail {
void note_saved(const void* key, std::size_t bytes) { pending_saved.emplace_back(key, bytes); }
}  // namespace detail

bool Gradients::needs(int input) const { return entry_.inputs[static_cast<std::size_t>(input)].tensor != nullptr; }

void Gradients::accumulate(int input, Tensor grad) {
  const TapeInput& in = entry_.inputs[static_cast<std::size_t>(input)];
  if (!in.tensor) return;
  if (!(grad.shape() == in.tensor->shape)) grad = sum_to(grad, in.tensor->shape);  // undo broadcasting
  if (grad.dtype() != in.tensor->dtype) grad = grad.to(in.tensor->dtype);
  if (out_) {
    accumulate_slot(out_[input], std::move(grad));
    return;
  }
  if (anomaly_enabled) {
    if (std::int64_t bad = count_non_finite(grad))
      fail<AnomalyError>(
          "anomaly: the backward of {} (tape entry #{}, recorded {}) produced {} NaN/Inf value(s) in the gradient of "
          "its input {} {}; the gradient flowing into it was finite. Look at what that op divides by, takes the log "
          "or sqrt of, or exponentiates",
          entry_.op, index_, where(entry_), bad, input, in.tensor->shape);
  }
  if (observer) observer->on_input(index_, entry_, input, grad);
  if (in.producer >= 0) {
    accumulate_slot((*slots_)[static_cast<std::size_t>(in.producer)], std::move(grad));
  } else if (!in.tensor->hooks.empty()) {
    tape_->hold_for_hooks(in.tensor, std::move(grad));
  } else {
    Tensor leaf_grad(std::move(in.tensor->grad));
    accumulate_leaf(leaf_grad, std::move(grad));
    in.tensor->grad = leaf_grad.impl_ptr();
  }
}

void Tape::hold_for_hooks(const std::shared_ptr<TensorImpl>& leaf, Tensor grad) {
  for (auto& [t, g] : hooked_leaves_)
    if (t == leaf) return accumulate_slot(g, std::move(grad));
  hooked_leaves_.emplace_back(leaf, std::move(grad));
}

Tape::Tape() : id_(next_tape_id()) {}

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
  // The bytes saved: each distinct buffer noted by save() since the last record().
  std::int64_t saved = 0;
  for (std::size_t i = 0; i < pending_saved.size(); ++i) {
    bool seen = false;
    for (std::size_t j = 0; j < i && !seen; ++j) seen = pending_saved[j].first == pending_saved[i].first;
    if (!seen) saved += static_cast<std::int64_t>(pending_saved[i].second);
  }
  pending_saved.clear();
  if (entries_.size() >= prune_at_) {
    prune();
    std::size_t limit = warning_threshold;
    if (limit && !warned_ && since_backward_ > limit && entries_.size() > limit) {
      warned_ = true;
      warn(fmt::format(
          "the tape holds {} live entries ({:.1f} MB saved for backward) and {} were recorded since the last "
          "backward(). Ops are recorded whenever an input requires grad: run evaluation under tg::NoGradGuard, "
          "and add up losses with loss.item() (or loss.detach()) rather than the tensor, or each step's graph stays "
          "alive. tg::set_tape_warning_threshold() changes this limit (0: never warn)",
          entries_.size(), static_cast<double>(saved_bytes()) / 1e6, since_backward_));
    }
  }
  if (inputs.size() > TapeInputs::kMax)
    fail<AutogradError>("record: op {} has {} inputs, but a tape entry holds at most {}; pass fewer tensors", op,
                        inputs.size(), TapeInputs::kMax);
  // Checked before the entry is appended, so a refused op leaves the tape as it was. One
  // integer compare per input that was itself recorded.
  for (const Tensor& t : inputs) {
    if (!t.defined()) continue;
    const TensorImpl& in = t.impl();
    if (in.entry != 0 && in.tape != id_) fail_other_tape(op, "an input", in);
  }
  ++since_backward_;
  TapeEntry& e = entries_.emplace_back();
  e.id = next_entry_id();
  e.op = op;
  e.saved_bytes = saved;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad())
      e.inputs.push_back({t.impl_ptr(), {}, -1});
    else
      e.inputs.push_back(
          {nullptr, t.defined() ? std::weak_ptr<TensorImpl>(t.impl_ptr()) : std::weak_ptr<TensorImpl>(), -1});
  }
  e.output = output.impl_ptr();
  e.backward = std::move(backward);
  TensorImpl& out = output.impl();
  out.requires_grad = true;
  out.entry = e.id;
  out.tape = id_;
  out.op = op;
  if (anomaly_enabled) {
    e.where = current_scope();
    if (std::int64_t bad = count_non_finite(output)) {
      std::string cause = "its inputs were finite, so the op itself produced them";
      for (std::size_t k = 0; k < inputs.size(); ++k) {
        const Tensor& t = inputs.begin()[k];
        if (t.defined() && count_non_finite(t))
          cause =
              fmt::format("its input {} {} already held NaN/Inf ({}): look where that tensor came from", k, t.shape(),
                          t.is_leaf() ? "a leaf: data or a parameter" : fmt::format("computed by {}", t.impl().op));
      }
      fail<AnomalyError>("anomaly: {} (tape entry #{}, {}) produced {} NaN/Inf value(s) in its output {}; {}", op,
                         entries_.size() - 1, where(e), bad, output.shape(), cause);
    }
  }
}

std::int64_t Tape::index_of(const Tensor& t) const {
  if (!t.defined() || t.impl().entry == 0) return -1;
  return find(t.impl().entry, static_cast<std::int64_t>(entries_.size()));
}

namespace {
const TapeEntry& entry_at(const std::vector<TapeEntry>& entries, std::size_t index, const char* what) {
  if (index >= entries.size())
    fail<ValueError>("Tape::{}: no entry #{}; the tape has {} entries (0 to {})", what, index, entries.size(),
                     static_cast<std::int64_t>(entries.size()) - 1);
  return entries[index];
}
const TapeInput& input_at(const std::vector<TapeEntry>& entries, std::size_t index, std::size_t input,
                          const char* what) {
  const TapeEntry& e = entry_at(entries, index, what);
  if (input >= e.inputs.size())
    fail<ValueError>("Tape::{}: entry #{} ({}) has {} inputs; input {} does not exist", what, index, e.op,
                     e.inputs.size(), input);
  return e.inputs[input];
}
}  // namespace

Tensor Tape::output(std::size_t index) const { return Tensor(entry_at(entries_, index, "output").output.lock()); }

Tensor Tape::input(std::size_t index, std::size_t input) const {
  const TapeInput& in = input_at(entries_, index, input, "input");
  return in.tensor ? Tensor(in.tensor) : Tensor(in.constant.lock());
}

std::int64_t Tape::producer(std::size_t index, std::size_t input) const {
  const TapeInput& in = input_at(entries_, index, input, "producer");
  if (!in.tensor || in.tensor->entry == 0) return -1;
  return find(in.tensor->entry, static_cast<std::int64_t>(index));
}

std::vector<Tensor> Tape::entry_backward(std::size_t index, const Tensor& grad) {
  entry_at(entries_, index, "entry_backward");
  TapeEntry& e = entries_[index];
  if (!e.backward)
    fail<AutogradError>("Tape::entry_backward: entry #{} ({}) has no backward closure left (its graph was freed)",
                        index, e.op);
  if (auto out = e.output.lock(); out && !(out->shape == grad.shape()))
    fail<ShapeError>("Tape::entry_backward: entry #{} ({}) has output shape {} but the gradient given has shape {}",
                     index, e.op, out->shape, grad.shape());
  std::array<Tensor, TapeInputs::kMax> out;
  NoGradGuard no_grad;
  Gradients g(e, index, out.data());
  e.backward(grad, g);
  return {out.begin(), out.begin() + static_cast<std::ptrdiff_t>(e.inputs.size())};
}

std::int64_t Tape::saved_bytes() const {
  std::int64_t total = 0;
  for (const TapeEntry& e : entries_) total += e.saved_bytes;
  return total;
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
  // Before anything else reads the root's graph: the other thread may be freeing it.
  if (r.entry != 0 && r.tape != id_) fail_other_tape("backward", "the tensor", r);
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
  since_backward_ = 0;
  hooked_leaves_.clear();  // left over only if a closure threw in an earlier backward()

  if (r.entry == 0) {  // a leaf: its gradient is the seed itself
    if (!r.hooks.empty()) g0 = run_hooks(r, std::move(g0));
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
        "backward: the tensor {} is not on this thread's tape any more (the tape was cleared); recompute it", r.shape);

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
            "backward: the tensor {} used by {} is not on this thread's tape any more (the tape was cleared); "
            "recompute it",
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
    if (out && !out->hooks.empty()) dy = run_hooks(*out, std::move(dy));
    if (out && out->retains_grad) {
      Tensor kept(std::move(out->grad));
      accumulate_leaf(kept, dy);
      out->grad = kept.impl_ptr();
    }
    out.reset();
    if (observer) observer->on_entry(static_cast<std::size_t>(i), e, dy);
    Gradients inputs(e, static_cast<std::size_t>(i), *this, slots);
    e.backward(dy, inputs);
  }
  // Leaves with hooks: each hook sees the leaf's whole gradient from this backward() once.
  for (auto& [leaf, g] : std::exchange(hooked_leaves_, {})) {
    Tensor leaf_grad(std::move(leaf->grad));
    accumulate_leaf(leaf_grad, run_hooks(*leaf, std::move(g)));
    leaf->grad = leaf_grad.impl_ptr();
  }
  if (!retain_graph) free_entries(used);
  if (used.capacity() <= kMaxKeptScratch) used_scratch_ = std::move(used);
  if (slots.capacity() <= kMaxKeptScratch) slot_scratch_ = std::move(slots);
}

}  // namespace tg
