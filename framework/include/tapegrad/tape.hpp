#pragma once
// The tape: a Wengert list of the operations that need gradients, in the order they ran.
//
// Note: why a tape and not a graph sort. An op can only use tensors that already exist,
// so the order in which entries are appended is already a topological order of the
// computation. backward() is therefore one loop over the entries in reverse, and every
// entry runs after all the entries that consume its output, so its output gradient is
// complete when its turn comes. No visited sets, no recursion, no sort.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/inline_function.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

class Gradients;

// Maps the gradient of an op's output to gradients of its inputs (see Gradients). It
// holds closures that capture up to four tensors without a heap allocation.
using BackwardFn = InlineFunction<void(const Tensor& grad, Gradients& inputs), 64>;

// An op's inputs as written at the call site, record("mul", {a, b}, ...), without
// copying the handles (each copy of a Tensor is an atomic reference count update).
using TensorRefs = std::initializer_list<std::reference_wrapper<const Tensor>>;

struct TapeInput {
  std::shared_ptr<TensorImpl> tensor;  // null if this input does not need a gradient
  // An input that needs no gradient (a constant such as a target), watched without being
  // kept alive, so that the tape can be printed and drawn with it; empty for an undefined
  // input (an optional bias left out).
  std::weak_ptr<TensorImpl> constant;
  std::int64_t producer = -1;  // scratch for backward(): the producing entry's index
};

// An op's inputs, stored inline: recording an op allocates nothing for them.
class TapeInputs {
 public:
  static constexpr std::size_t kMax = 4;  // the most inputs any op records
  std::size_t size() const { return size_; }
  TapeInput& operator[](std::size_t i) { return items_[i]; }
  const TapeInput& operator[](std::size_t i) const { return items_[i]; }
  TapeInput* begin() { return items_.data(); }
  TapeInput* end() { return items_.data() + size_; }
  const TapeInput* begin() const { return items_.data(); }
  const TapeInput* end() const { return items_.data() + size_; }
  void push_back(TapeInput in) { items_[size_++] = std::move(in); }  // the caller checks size() < kMax
  void clear() {
    for (std::size_t i = 0; i < size_; ++i) items_[i] = TapeInput{};
    size_ = 0;
  }

 private:
  std::array<TapeInput, kMax> items_;
  std::size_t size_ = 0;
};

struct TapeEntry {
  std::uint64_t id = 0;
  const char* op = "";
  TapeInputs inputs;                 // in the op's argument order
  std::weak_ptr<TensorImpl> output;  // weak: an output nobody holds can never get a gradient
  BackwardFn backward;               // holds the tensors saved for backward
  std::int64_t saved_bytes = 0;      // bytes of the distinct buffers `backward` holds (see save())
  std::string where;                 // under DetectAnomalyGuard: the module path that recorded it
};

// What a backward closure writes to: one accumulate() per input that needs a gradient.
// accumulate() sums a broadcast gradient back to the input's shape, so no op has to.
class Gradients {
 public:
  // In backward(): gradients go to the producers' slots and to the leaves' .grad.
  Gradients(TapeEntry& entry, std::vector<Tensor>& slots) : entry_(entry), slots_(&slots) {}
  Gradients(TapeEntry& entry, std::size_t index, class Tape& tape, std::vector<Tensor>& slots)
      : entry_(entry), index_(index), tape_(&tape), slots_(&slots) {}
  // For inspection (Tape::entry_backward): gradients go to out[input], nowhere else.
  Gradients(TapeEntry& entry, std::size_t index, Tensor* out) : entry_(entry), index_(index), out_(out) {}
  bool needs(int input) const;
  void accumulate(int input, Tensor grad);  // by value: a temporary is stored, not copied

 private:
  TapeEntry& entry_;
  std::size_t index_;                     // entry_'s index on the tape
  class Tape* tape_ = nullptr;            // in backward(): for the leaves whose hooks wait
  std::vector<Tensor>* slots_ = nullptr;  // per-entry gradient accumulators of this backward()
  Tensor* out_ = nullptr;
};

// Sees each step of backward() on this thread (BackwardTrace in inspect.hpp records them).
class BackwardObserver {
 public:
  virtual ~BackwardObserver() = default;
  // Entry `index` is about to run its backward closure on its output's gradient `grad`.
  virtual void on_entry(std::size_t index, const TapeEntry& entry, const Tensor& grad) = 0;
  // That closure gave input `input` the gradient `grad` (summed back to the input's shape).
  virtual void on_input(std::size_t index, const TapeEntry& entry, int input, const Tensor& grad) = 0;
};

// Installs an observer for this thread's backward() calls until the guard ends.
class ObserveBackward {
 public:
  explicit ObserveBackward(BackwardObserver& observer);
  ~ObserveBackward();
  ObserveBackward(const ObserveBackward&) = delete;
  ObserveBackward& operator=(const ObserveBackward&) = delete;

 private:
  BackwardObserver* previous_;
};

// Note: one tape per thread. Two threads can train independent models at the same time
// without locks, because each records on, and backward() replays, its own tape. A tensor
// computed on one thread belongs to that thread's tape: an op on another thread that takes
// it as an input requiring grad, or a backward() from it on another thread, throws
// AutogradError instead of reading entries that the first thread may be freeing. Leaves
// (parameters, data) can be shared for reading; see docs/reliability.md.
class Tape {
 public:
  Tape();
  // This thread's tape: every thread records on its own.
  static Tape& current();
  // Unique among all the tapes of the process, never 0 (TensorImpl::tape of a leaf).
  std::uint32_t id() const { return id_; }

  std::size_t size() const { return entries_.size(); }
  const std::vector<TapeEntry>& entries() const { return entries_; }
  // Drops every entry; tensors computed so far can no longer be backpropagated through.
  void clear();

  void record(const char* op, TensorRefs inputs, Tensor& output, BackwardFn&& backward);
  void backward(const Tensor& root, const Tensor& seed, bool retain_graph);

  // ---- inspection (docs/autograd.md, "Seeing inside") ----
  // The index of the entry that computed t, or -1 (a leaf, or not on this tape).
  std::int64_t index_of(const Tensor& t) const;
  // Entry `index`'s output, or an undefined tensor once nothing else holds it.
  Tensor output(std::size_t index) const;
  // Input `input` of entry `index`: the tensor itself (kept alive when it needs a gradient,
  // otherwise undefined once freed), and the index of the entry that computed it (-1: a leaf
  // or a constant).
  Tensor input(std::size_t index, std::size_t input) const;
  std::int64_t producer(std::size_t index, std::size_t input) const;
  // Runs entry `index`'s backward closure alone on the output gradient `grad` and returns
  // the gradient of each input (undefined for inputs that need none). Nothing is
  // accumulated, no hook runs and the entry stays on the tape.
  std::vector<Tensor> entry_backward(std::size_t index, const Tensor& grad);
  // Bytes held for backward by all live entries.
  std::int64_t saved_bytes() const;

 private:
  std::int64_t find(std::uint64_t id, std::int64_t below) const;  // index of entry `id` (< below), or -1
  void prune();                                                   // drops entries whose outputs are gone
  void free_entries(const std::vector<char>& used);

  static constexpr std::size_t kMinPruneAt = 1024;

  friend class Gradients;
  void hold_for_hooks(const std::shared_ptr<TensorImpl>& leaf, Tensor grad);

  std::uint32_t id_;
  std::vector<TapeEntry> entries_;  // ids strictly increasing
  // Gradients of leaves that have hooks, summed over this backward() before the hooks see
  // them (as in PyTorch, a hook runs once per backward with the whole gradient).
  std::vector<std::pair<std::shared_ptr<TensorImpl>, Tensor>> hooked_leaves_;
  std::vector<char> used_scratch_;  // backward()'s buffers, kept between calls
  std::vector<Tensor> slot_scratch_;
  std::size_t prune_at_ = kMinPruneAt;
  std::size_t since_backward_ = 0;  // entries recorded since the last backward()
  bool warned_ = false;
};

// ---- memory accounting ----
// Tape::record() warns once per tape (through the warning handler) when more than this many
// entries were recorded without a backward() and are still alive. 0 turns the warning off.
// The default is 1,000,000.
void set_tape_warning_threshold(std::size_t entries);
std::size_t tape_warning_threshold();
// Where warnings go: by default, a line on stderr. Pass an empty function to restore it.
void set_warning_handler(std::function<void(const std::string&)> handler);
void warn(const std::string& message);

// ---- anomaly mode ----
// In its scope (this thread), every op that records checks its output, and backward()
// checks every gradient it computes: the first NaN or Inf throws AnomalyError naming the
// op, its tape entry and the module that ran it. Slower: use it to find where a NaN
// comes from, as torch.autograd.detect_anomaly().
class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard();
  ~DetectAnomalyGuard();
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool previous_;
};
bool is_anomaly_enabled();

// ---- scopes ----
// The names of the modules running on this thread, outermost first ("features", "0"):
// Module::operator() pushes one for its duration. Anomaly errors and graph dumps use it.
class ScopeGuard {
 public:
  explicit ScopeGuard(const std::string& name);  // the string must outlive the guard
  ~ScopeGuard();
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
};
std::string current_scope();  // "features.0", or "" outside every module

// ---- grad mode ----
bool is_grad_enabled();
void set_grad_enabled(bool enabled);

// Disables recording in its scope, like torch.no_grad(): for evaluation and optimizer steps.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// ---- for op authors ----
// True when grad mode is on and at least one input requires a gradient.
template <class... Ts>
bool should_record(const Ts&... inputs) {
  return is_grad_enabled() && ((inputs.defined() && inputs.requires_grad()) || ...);
}

namespace detail {
// Notes `bytes` held for backward in the buffer at `key` (counted once per entry).
void note_saved(const void* key, std::size_t bytes);
}  // namespace detail

// t, noted as saved for backward: capture every tensor a backward closure keeps through
// save() or saved_for(), so that the tape can tell how many bytes each entry holds
//   sigmoid: dx = dy * y (1 - y)   ->   [y = save(y.detach())]
// Only in the capture list of the closure passed to record(): the bytes noted are charged
// to the next entry recorded. (A buffer that is not a tensor, such as max_pool2d's argmax,
// is noted with detail::note_saved right before record().)
inline Tensor save(const Tensor& t) {
  if (t.defined()) detail::note_saved(t.impl().storage.get(), t.impl().storage ? t.impl().storage->bytes() : 0);
  return t;
}

// t, if the gradient of `input` will be computed, else an undefined tensor. A backward
// closure saves what the gradients it computes read, and nothing more:
//   mul: da = dy * b, db = dy * a   ->   [a = saved_for(a, b), b = saved_for(b, a)]
inline Tensor saved_for(const Tensor& t, const Tensor& input) { return input.requires_grad() ? save(t) : Tensor(); }

// Appends an entry for `output` = op(inputs) to this thread's tape and marks `output` as
// requiring grad. Call it only when should_record(inputs...) is true.
inline void record(const char* op, TensorRefs inputs, Tensor& output, BackwardFn&& backward) {
  Tape::current().record(op, inputs, output, std::move(backward));
}

}  // namespace tg
