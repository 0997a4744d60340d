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
  std::int64_t producer = -1;          // scratch for backward(): the producing entry's index
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
};

// What a backward closure writes to: one accumulate() per input that needs a gradient.
// accumulate() sums a broadcast gradient back to the input's shape, so no op has to.
class Gradients {
 public:
  Gradients(TapeEntry& entry, std::vector<Tensor>& slots) : entry_(entry), slots_(slots) {}
  bool needs(int input) const;
  void accumulate(int input, Tensor grad);  // by value: a temporary is stored, not copied

 private:
  TapeEntry& entry_;
  std::vector<Tensor>& slots_;  // per-entry gradient accumulators of this backward()
};

class Tape {
 public:
  // This thread's tape: every thread records on its own.
  static Tape& current();

  std::size_t size() const { return entries_.size(); }
  const std::vector<TapeEntry>& entries() const { return entries_; }
  // Drops every entry; tensors computed so far can no longer be backpropagated through.
  void clear();

  void record(const char* op, TensorRefs inputs, Tensor& output, BackwardFn&& backward);
  void backward(const Tensor& root, const Tensor& seed, bool retain_graph);

 private:
  std::int64_t find(std::uint64_t id, std::int64_t below) const;  // index of entry `id` (< below), or -1
  void prune();                                                   // drops entries whose outputs are gone
  void free_entries(const std::vector<char>& used);

  static constexpr std::size_t kMinPruneAt = 1024;

  std::vector<TapeEntry> entries_;  // ids strictly increasing
  std::vector<char> used_scratch_;  // backward()'s buffers, kept between calls
  std::vector<Tensor> slot_scratch_;
  std::size_t prune_at_ = kMinPruneAt;
};

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

// t, if the gradient of `input` will be computed, else an undefined tensor. A backward
// closure saves what the gradients it computes read, and nothing more:
//   mul: da = dy * b, db = dy * a   ->   [a = saved_for(a, b), b = saved_for(b, a)]
inline Tensor saved_for(const Tensor& t, const Tensor& input) { return input.requires_grad() ? t : Tensor(); }

// Appends an entry for `output` = op(inputs) to this thread's tape and marks `output` as
// requiring grad. Call it only when should_record(inputs...) is true.
inline void record(const char* op, TensorRefs inputs, Tensor& output, BackwardFn&& backward) {
  Tape::current().record(op, inputs, output, std::move(backward));
}

}  // namespace tg
