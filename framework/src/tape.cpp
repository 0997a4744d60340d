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
  if (size_ >= prune_at_) prune();
  ++since_backward_;
  TapeEntry& e = append();
  e.id = detail::next_entry_id();
  e.op = &op;
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

void Tape::backward(const Tensor& root, const Tensor& seed, bool retain_graph) {
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
  try {
    // The sweep: an entry's outputs have every gradient they get once the entries after it ran.
    for (std::size_t i = static_cast<std::size_t>(top) + 1; i-- > 0;) {
      if (!used_[i]) continue;
      run_entry(i);
      release_leaves(i);
    }
  } catch (...) {  // leave no gradient behind for the next backward() to add to
    for (std::size_t i = 0; i <= static_cast<std::size_t>(top); ++i)
      for (EntryOutput& o : at(i).outputs) o.grad = Tensor();
    pending_.clear();
    leaf_sums_.clear();
    throw;
  }
  deliver_leaf_sums();
  if (!retain_graph) compact(used_);
}

void Tape::run_entry(std::size_t index) {
  TapeEntry& e = at(index);
  bool any = false;
  for (std::size_t k = 0; k < e.outputs.size(); ++k) {
    EntryOutput& o = e.outputs[k];
    if (e.watched && o.grad.defined())  // hooks and retain_grad() of the tensor this entry computed
      if (auto out = o.tensor.lock(); out && out->history == history_of(e.id, k)) {
        o.grad = detail::run_hooks(*out, std::move(o.grad));
        detail::retain(*out, o.grad);
      }
    any = any || o.grad.defined();
  }
  if (!any) return;  // no gradient reached it: nothing to pass on
  if (watch_backward_)
    for (TapeObserver* o : observers_)
      if (o->events() & TapeObserver::kBackward) o->on_backward_entry(*this, index);
  BackwardContext ctx(*this, e, index);
  e.backward(ctx);
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
  detail::add_to(tape_.at(p).outputs[output_index(in.producer)].grad, std::move(grad));
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
