// SPDX-License-Identifier: MIT
#pragma once
// Observers: what watches the tape without being part of it. The core (tape.hpp) calls an
// observer only for the events it asked for, so a tape without observers pays one test per
// record() and per gradient, and nothing more. Each tape has one observer from the start, the
// growth warning, which runs only when the tape reaches a pruning point.
//
//   tg::TapeNotes notes;          // remember module paths and constants, for printing and graphs
//   tg::DetectAnomalyGuard guard;  // the first NaN/Inf names its op, tape entry and module
//   tg::BackwardTrace trace;      // what backward() computed (inspect.hpp)
//   { tg::ObserveTape watch(trace); loss.backward(); }
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "tapegrad/tape.hpp"

namespace tg {

class TapeObserver {
 public:
  enum Event : unsigned { kRecord = 1, kBackward = 2, kGrowth = 4 };
  explicit TapeObserver(unsigned events) : events_(events) {}
  virtual ~TapeObserver() = default;
  unsigned events() const { return events_; }

  // kRecord: entry `index` was just appended; `inputs` are the tensors the op was given.
  virtual void on_record(const Tape& tape, std::size_t index, TensorArgs inputs);
  // kBackward: entry `index` is about to run its backward on its outputs' gradients
  // (tape.entry(index).outputs[k].grad).
  virtual void on_backward_entry(const Tape& tape, std::size_t index);
  // kBackward: that backward gave input `input` the gradient `grad` (summed to its shape).
  virtual void on_backward_input(const Tape& tape, std::size_t index, std::size_t input, const Tensor& grad);
  // kGrowth: the tape reached a pruning point; `since_backward` entries were recorded since
  // the last backward().
  virtual void on_growth(const Tape& tape, std::size_t since_backward);

 private:
  unsigned events_;
};

// Installs an observer on this thread's tape for the guard's scope.
class ObserveTape {
 public:
  explicit ObserveTape(TapeObserver& observer);
  ~ObserveTape();
  ObserveTape(const ObserveTape&) = delete;
  ObserveTape& operator=(const ObserveTape&) = delete;

 private:
  TapeObserver& observer_;
  Tape& tape_;
};

// ---- the growth warning (on every tape) ----
// Warns once per tape (through the warning handler) when more than this many entries were
// recorded without a backward() and are still alive. 0 turns the warning off. The default is
// 1,000,000.
void set_tape_warning_threshold(std::size_t entries);
std::size_t tape_warning_threshold();
// Where warnings go: by default, a line on stderr. Pass an empty function to restore it.
void set_warning_handler(std::function<void(const std::string&)> handler);
void warn(const std::string& message);
std::unique_ptr<TapeObserver> make_growth_warning();  // what each Tape installs

// ---- scopes ----
// The names of the modules running on this thread, outermost first ("features", "0"):
// Module::operator() pushes one for its duration. Notes and anomaly errors use it.
class ScopeGuard {
 public:
  explicit ScopeGuard(const std::string& name);  // the string must outlive the guard
  ~ScopeGuard();
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
};
std::string current_scope();  // "features.0", or "" outside every module

// ---- notes ----
// While it lives, remembers for each entry recorded on this thread's tape the module that
// recorded it and the constants it read (inputs that need no gradient, which the core does
// not keep): the printed tape and to_dot() show them. Constants are held weakly, so notes
// keep no tensor alive.
class TapeNotes : public TapeObserver {
 public:
  TapeNotes();
  ~TapeNotes() override;
  TapeNotes(const TapeNotes&) = delete;
  TapeNotes& operator=(const TapeNotes&) = delete;

  // The module path of entry `id` ("" outside any module, or if it was recorded unwatched).
  std::string scope(std::uint64_t entry_id) const;
  // Input `input` of entry `id` if it was a constant and is still alive; else undefined.
  Tensor constant(std::uint64_t entry_id, std::size_t input) const;
  // Whether the entry was recorded while these notes were kept.
  bool has(std::uint64_t entry_id) const { return notes_.count(entry_id) != 0; }

  void on_record(const Tape& tape, std::size_t index, TensorArgs inputs) override;

 protected:
  explicit TapeNotes(unsigned events);

 private:
  struct Note {
    std::shared_ptr<const std::string> scope;
    std::vector<WeakImplPtr> constants;
  };
  std::unordered_map<std::uint64_t, Note> notes_;
  std::shared_ptr<const std::string> last_scope_;  // consecutive entries share one string
  Tape& tape_;
};
// The notes installed on `tape`, if any.
const TapeNotes* notes_of(const Tape& tape);

// ---- anomaly mode ----
// In its scope (this thread), every op that records checks its outputs, and backward()
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
  std::unique_ptr<TapeNotes> observer_;
};
bool is_anomaly_enabled();

}  // namespace tg
