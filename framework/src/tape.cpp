// SPDX-License-Identifier: MIT
// The core tape: record() appends an entry, backward() sweeps the entries in reverse, and
// pruning drops entries whose outputs nobody holds. Where gradients end up (leaves, hooks)
// is in gradients.cpp; who watches (observers) in observer.cpp.
#include "tapegrad/tape.hpp"

#include <algorithm>
#include <new>

#include "autograd_detail.hpp"
#include "tapegrad/error.hpp"
#include "tapegrad/observer.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

using detail::entry_id;
using detail::history_of;
using detail::output_index;

namespace {
constexpr std::size_t kMinPruneAt = 1024;
// Bit k of an OpInfo mask. The masks have 32 bits; the inputs and outputs past them (a stack of
// 64 steps, a split into 40 chunks: only variadic ops have so many) have none set.
bool bit(std::uint32_t mask, std::size_t k) { return k < 32 && (mask >> k & 1); }
}  // namespace

Tape::Tape() : id_(detail::next_tape_id()), prune_at_(kMinPruneAt), growth_warning_(make_growth_warning()) {
  add_observer(*growth_warning_);
}

Tape::~Tape() {
  if (current_ == this) current_ = nullptr;
  clear();
  for (TapeEntry* chunk : chunks_) ::operator delete(chunk);
}

Tape& Tape::make_current() {
  thread_local Tape tape;
  current_ = &tape;
  return tape;
}

TapeEntry& Tape::append() {
  if (size_ == chunks_.size() * kChunkSize)
    chunks_.push_back(static_cast<TapeEntry*>(::operator new(kChunkSize * sizeof(TapeEntry))));
  TapeEntry* e = ::new (&at(size_)) TapeEntry();
  ++size_;
  return *e;
}

void Tape::clear() {
  compact(std::vector<char>(size_, 1));
  prune_at_ = kMinPruneAt;
}

void Tape::record(const OpInfo& op, TensorArgs inputs, std::span<Tensor> outputs, std::span<const Tensor> saved,
                  BackwardFn&& backward, std::uint32_t no_grad_outputs) {
  if ((op.num_inputs != OpInfo::kVariadic && inputs.size() != static_cast<std::size_t>(op.num_inputs)) ||
      (op.num_outputs != OpInfo::kVariadic && outputs.size() != static_cast<std::size_t>(op.num_outputs)) ||
      inputs.size() > kMaxArity || outputs.size() > kMaxArity)
    detail::fail_arity(op, inputs.size(), outputs.size());
  if (op.no_grad_inputs != 0)
    for (std::size_t k = 0; k < inputs.size(); ++k)
      if (bit(op.no_grad_inputs, k) && inputs[k].defined() && inputs[k].requires_grad())
        detail::fail_no_grad_input(op, k, inputs[k]);
  if (size_ >= prune_at_ && !sweeping_) prune();  // a recording backward: entries must not move under it
  ++since_backward_;
  TapeEntry& e = append();
  e.id = detail::next_entry_id();
  e.op = &op;
  e.made_by = recording_for_;
  auto output_of = [&](const Tensor& t) {  // which output t is (an in-place op's input, a saved result), or -1
    for (std::size_t k = 0; k < outputs.size(); ++k)
      if (t.impl_ptr() == outputs[k].impl_ptr()) return static_cast<int>(k);
    return -1;
  };
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& t = inputs[k];
    Edge& in = e.inputs.emplace_back();
    if (!t.defined() || !t.requires_grad() || bit(op.no_grad_inputs, k)) continue;
    if (t.impl().history != 0 && t.impl().tape != id_) {  // refused: the tape is left as it was
      at(--size_).~TapeEntry();
      detail::fail_other_tape(op.name, "an input", t.impl());
    }
    in.producer = t.impl().history;  // read before an in-place op moves it on, below
    if (output_of(t) < 0) in.tensor = t;
  }
  for (std::size_t j = 0; j < saved.size(); ++j) {
    const Tensor& t = saved[j];
    int held = -1;  // an input whose edge holds t already: saved without another reference
    for (std::size_t k = 0; k < e.inputs.size() && held < 0 && t.defined(); ++k)
      if (e.inputs[k].tensor.impl_ptr() == t.impl_ptr()) held = static_cast<int>(k);
    e.saved.emplace_back(t, held < 0 ? output_of(t) : -1, held);
  }
  no_grad_outputs |= op.no_grad_outputs;
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    e.outputs.emplace_back().tensor = outputs[k].impl_ptr();
    if (bit(no_grad_outputs, k)) continue;
    TensorImpl& out = outputs[k].impl();
    out.requires_grad = true;
    out.history = history_of(e.id, k);
    out.tape = id_;
    out.op = op.index;
  }
  e.backward = std::move(backward);
  if (watch_records_)
    for (TapeObserver* o : observers_)
      if (o->events() & TapeObserver::kRecord) o->on_record(*this, size_ - 1, inputs);
}

// Note: a producer usually sits just before its consumer, so the search gallops down from
// `below` (1, 2, 4, ... entries back) before it bisects: O(log distance), not O(log size),
// which keeps backward() linear in the length of the tape.
std::int64_t Tape::find(std::uint64_t id, std::size_t below) const {
  std::size_t hi = std::min(below, size_), lo = hi;                             // ids of [hi, size_) are > id
  if (hi > 0 && at(hi - 1).id == id) return static_cast<std::int64_t>(hi - 1);  // the entry just before
  for (std::size_t step = 1; lo > 0; step *= 2) {
    lo = hi > step ? hi - step : 0;
    if (at(lo).id <= id) break;
    hi = lo;
  }
  while (lo < hi) {  // the first entry in [lo, hi) with an id >= `id`
    std::size_t mid = lo + (hi - lo) / 2;
    if (at(mid).id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < size_ && at(lo).id == id ? static_cast<std::int64_t>(lo) : -1;
}

void Tape::reachable(std::size_t top, const char* op, std::vector<char>& used) const {
  used.assign(top + 1, 0);
  used[top] = 1;
  walk(top, op, used);
}

void Tape::walk(std::size_t top, const char* op, std::vector<char>& used) const {
  for (std::size_t i = top + 1; i-- > 0;) {
    if (!used[i]) continue;
    for (const Edge& in : at(i).inputs) {
      if (in.producer == 0) continue;
      std::int64_t p = find(entry_id(in.producer), i);
      if (p < 0)
        detail::fail_freed(
            op, fmt::format("an intermediate tensor {} used by {} (entry #{}) cannot be backpropagated",
                            in.tensor.defined() ? in.tensor.shape().str() : "(its value before an in-place op)",
                            at(i).op->name, i));
      used[static_cast<std::size_t>(p)] = 1;
    }
  }
}

// Opens queue_callback() for one backward(); whatever way backward ends, the callbacks not run
// are dropped and the list is closed.
struct Tape::CallbackScope {
  Tape& tape;
  explicit CallbackScope(Tape& t) : tape(t) {
    tape.callbacks_.clear();
    tape.callbacks_open_ = true;
  }
  ~CallbackScope() {
    tape.callbacks_open_ = false;
    tape.callbacks_.clear();
  }
};

// The first-order backward from one root, the path every training step takes: the general
// sweep below without its multiple roots, recording and targets, kept lean (it is most of the
// cost of a tiny graph's backward).
void Tape::backward(const Tensor& root, const Tensor& seed, bool retain_graph) {
  if (sweeping_) fail_nested();
  CallbackScope callbacks{*this};
  TensorImpl& r = root.impl();
  if (r.history != 0 && r.tape != id_) detail::fail_other_tape("backward", "the tensor", r);
  Tensor g0 = detail::seed_gradient(root, seed);
  NoGradGuard no_grad;  // backward functions compute with ops, which must not record
  since_backward_ = 0;
  if (r.history == 0) return detail::deliver_to_leaf(root.impl_ptr(), std::move(g0));
  std::int64_t top = find(entry_id(r.history));
  if (top < 0) detail::fail_freed("backward", fmt::format("cannot backward through {} a second time", r.shape));
  // The walk checks the whole graph before any gradient moves: a failing backward() changes nothing.
  reachable(static_cast<std::size_t>(top), "backward", used_);
  hold_leaves(static_cast<std::size_t>(top), used_);
  at(static_cast<std::size_t>(top)).outputs[output_index(r.history)].grad = std::move(g0);
  sweeping_ = true;
  try {
    sweep(static_cast<std::size_t>(top));
  } catch (...) {
    sweeping_ = false;
    throw;
  }
  sweeping_ = false;
  deliver_leaf_sums();
  run_callbacks();
  if (!retain_graph) compact(used_);
}

void Tape::fail_nested() {
  fail<AutogradError>(
      "backward: called while a backward pass of this thread's tape is running (from a hook or a custom "
      "function's backward); compute the gradient after the outer backward() returns, or use "
      "create_graph = true and tg::grad on its result");
}

// The sweep: an entry's outputs have every gradient they get once the entries after it ran.
// On an error, no gradient is left behind for the next backward() to add to.
void Tape::sweep(std::size_t top) {
  try {
    for (std::size_t i = top + 1; i-- > 0;) {
      if (!used_[i]) continue;
      run_entry(i, targets_.empty() || needed_[i]);
      release_leaves(i);
    }
  } catch (...) {
    for (std::size_t i = 0; i < used_.size(); ++i)
      for (EntryOutput& o : at(i).outputs) o.grad = Tensor();
    pending_.clear();
    leaf_sums_.clear();
    throw;
  }
}

namespace {
// Grad mode and the tape's sweep state for one backward(), restored however it ends.
struct SweepState {
  bool grad_enabled, sweeping, create_graph;
  std::uint64_t recording_for;
  std::span<GradTarget> targets;
};
}  // namespace

void Tape::backward(std::span<const Tensor> roots, std::span<const Tensor> seeds, bool retain_graph, bool create_graph,
                    std::span<GradTarget> targets) {
  if (sweeping_) fail_nested();
  CallbackScope callbacks{*this};
  SmallVector<Tensor, 1> g0;
  for (std::size_t k = 0; k < roots.size(); ++k) {
    const TensorImpl& r = roots[k].impl();
    if (r.history != 0 && r.tape != id_) detail::fail_other_tape("backward", "the tensor", r);
    g0.push_back(detail::seed_gradient(roots[k], k < seeds.size() ? seeds[k] : Tensor(), create_graph));
  }
  // Backward functions compute with ops, which record only for a backward that creates a graph.
  const SweepState before{is_grad_enabled(), sweeping_, create_graph_, recording_for_, targets_};
  set_grad_enabled(create_graph);
  sweeping_ = true;
  create_graph_ = create_graph;
  targets_ = targets;
  struct Restore {
    Tape& tape;
    const SweepState& s;
    ~Restore() {
      set_grad_enabled(s.grad_enabled);
      tape.sweeping_ = s.sweeping;
      tape.create_graph_ = s.create_graph;
      tape.recording_for_ = s.recording_for;
      tape.targets_ = s.targets;
    }
  } restore{*this, before};
  since_backward_ = 0;
  // The entries the roots come from; the walk checks the whole graph before any gradient
  // moves, so a failing backward() changes nothing.
  std::int64_t top = -1;
  SmallVector<std::size_t, 1> tops;
  for (std::size_t k = 0; k < roots.size(); ++k) {
    const TensorImpl& r = roots[k].impl();
    std::int64_t t = r.history == 0 ? 0 : find(entry_id(r.history));
    if (t < 0) detail::fail_freed("backward", fmt::format("cannot backward through {} a second time", r.shape));
    tops.push_back(static_cast<std::size_t>(t));
    if (r.history != 0) top = std::max(top, t);
  }
  if (top >= 0) {
    used_.assign(static_cast<std::size_t>(top) + 1, 0);
    for (std::size_t k = 0; k < roots.size(); ++k)
      if (roots[k].impl().history != 0) used_[tops[k]] = 1;
    walk(static_cast<std::size_t>(top), "backward", used_);
  } else {
    used_.clear();
  }
  pending_.clear();
  if (top >= 0 && targets_.empty()) hold_leaves(static_cast<std::size_t>(top), used_);
  if (top >= 0 && !targets_.empty()) mark_needed(static_cast<std::size_t>(top));
  for (std::size_t k = 0; k < roots.size(); ++k) {
    const TensorImpl& r = roots[k].impl();
    if (r.history == 0)
      send_to_leaf(roots[k].impl_ptr(), std::move(g0[k]));
    else
      add_grad(at(tops[k]).outputs[output_index(r.history)].grad, std::move(g0[k]));
  }
  if (top >= 0) sweep(static_cast<std::size_t>(top));
  deliver_leaf_sums();
  run_callbacks();
  if (!retain_graph) compact(used_);
}

void Tape::queue_callback(std::function<void()> f) {
  if (!callbacks_open_)
    fail<AutogradError>(
        "queue_callback: no backward() of this thread's tape is running; call it from a hook during backward "
        "(register_hook, register_post_accumulate_grad_hook or a custom function's backward)");
  if (!f) fail<ValueError>("queue_callback: the callback is empty; pass a function void()");
  callbacks_.push_back(std::move(f));
}

void Tape::run_callbacks() {
  // A callback may queue another (it runs in turn); the list is taken one callback at a time.
  for (std::size_t i = 0; i < callbacks_.size(); ++i) {
    std::function<void()> f = std::move(callbacks_[i]);
    f();
  }
  callbacks_.clear();
}

// needed_[i]: entry i leads to a target (an input edge is a target leaf, or comes from a
// target or from a needed entry). Entries that do not are not run: tg::grad computes only
// what its inputs need.
void Tape::mark_needed(std::size_t top) {
  needed_.assign(top + 1, 0);
  for (std::size_t i = 0; i <= top; ++i) {
    if (!used_[i]) continue;
    for (const Edge& in : at(i).inputs) {
      if (in.producer == 0) {
        if (in.tensor.defined() && target_leaf(&in.tensor.impl())) needed_[i] = 1;
        continue;
      }
      for (const GradTarget& t : targets_)
        if (t.history == in.producer) needed_[i] = 1;
      if (needed_[i]) continue;
      std::int64_t p = find(entry_id(in.producer), i);
      if (p >= 0 && needed_[static_cast<std::size_t>(p)]) needed_[i] = 1;
    }
  }
}

void Tape::add_grad(Tensor& sum, Tensor g) const {
  if (!create_graph_) return detail::add_to(sum, std::move(g));
  sum = sum.defined() ? sum + g : std::move(g);  // recorded, and never into a tensor the new graph saved
}

void Tape::run_entry(std::size_t index, bool propagate) {
  TapeEntry& e = at(index);
  bool any = false;
  for (std::size_t k = 0; k < e.outputs.size(); ++k) {
    EntryOutput& o = e.outputs[k];
    if (e.watched && o.grad.defined())  // hooks and retain_grad() of the tensor this entry computed
      if (auto out = o.tensor.lock(); out && out->history == history_of(e.id, k)) {
        o.grad = detail::run_hooks(*out, std::move(o.grad));
        if (targets_.empty()) detail::retain(*out, o.grad, create_graph_);
      }
    any = any || o.grad.defined();
  }
  if (!targets_.empty()) {  // tg::grad: a non-leaf input's gradient is complete here
    for (std::size_t k = 0; k < e.outputs.size(); ++k)
      for (GradTarget& t : targets_)
        if (t.history == history_of(e.id, k) && e.outputs[k].grad.defined()) add_grad(t.grad, e.outputs[k].grad);
    if (!propagate) any = false;  // none of tg::grad's inputs is below it
  }
  if (!any) {
    for (EntryOutput& o : e.outputs) o.grad = Tensor();
    return;
  }
  if (watch_backward_)
    for (TapeObserver* o : observers_)
      if (o->events() & TapeObserver::kBackward) o->on_backward_entry(*this, index);
  BackwardContext ctx(*this, e, index);
  if (create_graph_) {  // what this backward function records is marked as its (Note [recording backward])
    recording_for_ = e.id;
    e.backward(ctx);
    recording_for_ = 0;
  } else {
    e.backward(ctx);
  }
  for (EntryOutput& o : e.outputs) o.grad = Tensor();
}

const Tensor& BackwardContext::saved(std::size_t k) const {
  static const Tensor none;
  const SavedTensor& s = entry_.saved[k];
  if (!s.defined()) return none;
  if (s.output() >= 0 && outputs_.empty()) {  // the entry's own outputs, which backward can reach
    outputs_.reserve(entry_.outputs.size());
    for (const EntryOutput& o : entry_.outputs) outputs_.emplace_back(o.tensor.lock());
  }
  const Tensor& t = s.output() >= 0  ? outputs_[static_cast<std::size_t>(s.output())]
                    : s.input() >= 0 ? entry_.inputs[static_cast<std::size_t>(s.input())].tensor
                                     : s.tensor();
  if (!t.defined() || t.version() != s.version()) detail::fail_saved(entry_, index_, k, t);
  return t;
}

void BackwardContext::accumulate(std::size_t input, Tensor grad) {
  Edge& in = entry_.inputs[input];
  if (!in.needs_grad() || !grad.defined()) return;
  if (in.tensor.defined()) {  // an in-place op's own input has its output's shape and dtype already
    if (!(grad.shape() == in.tensor.shape())) grad = sum_to(grad, in.tensor.shape());  // undo broadcasting
    if (grad.dtype() != in.tensor.dtype()) grad = grad.to(in.tensor.dtype());
  }
  if (results_) return detail::add_to(results_[input], std::move(grad));
  if (tape_.watch_backward_)
    for (TapeObserver* o : tape_.observers_)
      if (o->events() & TapeObserver::kBackward) o->on_backward_input(tape_, index_, input, grad);
  if (in.producer == 0) return tape_.send_to_leaf(in.tensor.impl_ptr(), std::move(grad));
  auto p = static_cast<std::size_t>(tape_.find(entry_id(in.producer), index_));  // reachable() found it
  Tensor& sum = tape_.at(p).outputs[output_index(in.producer)].grad;
  if (tape_.create_graph_)
    tape_.add_grad(sum, std::move(grad));
  else
    detail::add_to(sum, std::move(grad));  // the first-order path, as short as it can be
}

// Walking from the end, an entry whose outputs have all expired can never receive a
// gradient; dropping it releases its inputs, which may expire earlier outputs in turn, so one
// reverse pass collects whole dead chains (results computed and thrown away).
void Tape::prune() {
  if (detail::take_dead_outputs(id_) > 0) {
    std::vector<char> dead(size_, 0);
    for (std::size_t i = size_; i-- > 0;) {
      TapeEntry& e = at(i);
      if (std::all_of(e.outputs.begin(), e.outputs.end(), [](const EntryOutput& o) { return o.tensor.expired(); })) {
        dead[i] = 1;
        e.inputs.clear();
        e.saved.clear();
        e.backward = nullptr;
      }
    }
    compact(dead);
  }
  prune_at_ = std::max(kMinPruneAt, 2 * size_);
  for (TapeObserver* o : observers_)
    if (o->events() & TapeObserver::kGrowth) o->on_growth(*this, since_backward_);
}

void Tape::compact(const std::vector<char>& drop) {
  std::size_t keep = 0;
  for (std::size_t i = 0; i < size_; ++i) {
    if (i < drop.size() && drop[i]) continue;
    if (keep != i) at(keep) = std::move(at(i));
    ++keep;
  }
  for (std::size_t i = keep; i < size_; ++i) at(i).~TapeEntry();
  size_ = keep;
  // Note: the next prune is due when the tape has doubled from what is live now, not from
  // its largest size ever: after one big graph, dead entries must not pile up to twice it.
  prune_at_ = std::max(kMinPruneAt, 2 * size_);
  // Empty chunks are kept for the next graph, within the storage cache's budget (storage.hpp).
  const std::size_t live = (size_ + kChunkSize - 1) / kChunkSize;
  if (chunks_.size() <= live + 1) return;
  std::size_t kept = std::max<std::size_t>(1, storage_cache_limit() / (kChunkSize * sizeof(TapeEntry)));
  while (chunks_.size() > live + kept) {
    ::operator delete(chunks_.back());
    chunks_.pop_back();
  }
}

}  // namespace tg
