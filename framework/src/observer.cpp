// SPDX-License-Identifier: MIT
#include "tapegrad/observer.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>

#include <fmt/core.h>

#include "tapegrad/error.hpp"

namespace tg {

namespace {

thread_local int anomaly_depth = 0;
thread_local std::vector<const std::string*> scopes;

std::atomic<std::size_t> warning_threshold{1'000'000};
std::mutex handler_mutex;
std::function<void(const std::string&)> warning_handler;  // empty: print to stderr

std::int64_t saved_bytes_of(const Tape& tape) {
  std::int64_t total = 0;
  for (std::size_t i = 0; i < tape.size(); ++i) {
    const TapeEntry& e = tape.entry(i);
    for (const SavedTensor& s : e.saved)
      if (s.tensor().defined()) total += static_cast<std::int64_t>(s.tensor().impl().storage->bytes());
  }
  return total;
}

// Warns once per tape when entries pile up without a backward().
class GrowthWarning : public TapeObserver {
 public:
  GrowthWarning() : TapeObserver(kGrowth) {}
  void on_growth(const Tape& tape, std::size_t since_backward) override {
    std::size_t limit = warning_threshold;
    if (!limit || warned_ || since_backward <= limit || tape.size() <= limit) return;
    warned_ = true;
    warn(fmt::format(
        "the tape holds {} live entries ({:.1f} MB saved for backward) and {} were recorded since the last "
        "backward(). Ops are recorded whenever an input requires grad: run evaluation under tg::NoGradGuard, "
        "and add up losses with loss.item() (or loss.detach()) rather than the tensor, or each step's graph stays "
        "alive. tg::set_tape_warning_threshold() changes this limit (0: never warn)",
        tape.size(), static_cast<double>(saved_bytes_of(tape)) / 1e6, since_backward));
  }

 private:
  bool warned_ = false;
};

// The number of NaN and Inf values in t (floating tensors only).
std::int64_t count_non_finite(const Tensor& t) {
  if (!t.defined() || !t.is_floating_point()) return 0;
  std::int64_t bad = 0;
  dispatch_floating("anomaly", t.dtype(), [&]<class T>() {
    const T* p = t.data<T>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) bad += !std::isfinite(p[i]);
  });
  return bad;
}

// Anomaly mode: notes (for the module paths) and the checks.
class AnomalyObserver : public TapeNotes {
 public:
  AnomalyObserver() : TapeNotes(kRecord | kBackward) {}

  void on_record(const Tape& tape, std::size_t index, TensorArgs inputs) override {
    TapeNotes::on_record(tape, index, inputs);
    const TapeEntry& e = tape.entry(index);
    for (std::size_t k = 0; k < e.outputs.size(); ++k) {
      Tensor out(e.outputs[k].tensor.lock());
      std::int64_t bad = count_non_finite(out);
      if (!bad) continue;
      std::string cause = "its inputs were finite, so the op itself produced them";
      for (std::size_t j = 0; j < inputs.size(); ++j) {
        const Tensor& t = inputs[j];
        if (t.defined() && count_non_finite(t)) {
          const OpInfo* by = op_by_index(t.impl().op);
          cause = fmt::format(
              "its input {} {} already held NaN/Inf ({}): look where that tensor came from", j, t.shape(),
              t.is_leaf() ? "a leaf: data or a parameter" : fmt::format("computed by {}", by ? by->name : "an op"));
        }
      }
      fail<AnomalyError>("anomaly: {} (tape entry #{}, {}) produced {} NaN/Inf value(s) in its output {}; {}",
                         e.op->name, index, where(e.id), bad, out.shape(), cause);
    }
  }

  void on_backward_input(const Tape& tape, std::size_t index, std::size_t input, const Tensor& grad) override {
    std::int64_t bad = count_non_finite(grad);
    if (!bad) return;
    const TapeEntry& e = tape.entry(index);
    fail<AnomalyError>(
        "anomaly: the backward of {} (tape entry #{}, recorded {}) produced {} NaN/Inf value(s) in the gradient of "
        "its input {} {}; the gradient flowing into it was finite. Look at what that op divides by, takes the log "
        "or sqrt of, or exponentiates",
        e.op->name, index, where(e.id), bad, input, grad.shape());
  }

 private:
  std::string where(std::uint64_t id) const {
    std::string s = scope(id);
    return s.empty() ? "outside any module" : "in module " + s;
  }
};

}  // namespace

// ---- observers ----

void TapeObserver::on_record(const Tape&, std::size_t, TensorArgs) {}
void TapeObserver::on_backward_entry(const Tape&, std::size_t) {}
void TapeObserver::on_backward_input(const Tape&, std::size_t, std::size_t, const Tensor&) {}
void TapeObserver::on_growth(const Tape&, std::size_t) {}

void Tape::add_observer(TapeObserver& observer) {
  observers_.push_back(&observer);
  watch_records_ = watch_records_ || (observer.events() & TapeObserver::kRecord);
  watch_backward_ = watch_backward_ || (observer.events() & TapeObserver::kBackward);
}

void Tape::remove_observer(TapeObserver& observer) {
  auto it = std::find(observers_.rbegin(), observers_.rend(), &observer);
  if (it != observers_.rend()) observers_.erase(std::next(it).base());
  watch_records_ = watch_backward_ = false;
  for (TapeObserver* o : observers_) {
    watch_records_ = watch_records_ || (o->events() & TapeObserver::kRecord);
    watch_backward_ = watch_backward_ || (o->events() & TapeObserver::kBackward);
  }
}

ObserveTape::ObserveTape(TapeObserver& observer) : observer_(observer), tape_(Tape::current()) {
  tape_.add_observer(observer_);
}
ObserveTape::~ObserveTape() { tape_.remove_observer(observer_); }

// ---- growth warning ----

std::unique_ptr<TapeObserver> make_growth_warning() { return std::make_unique<GrowthWarning>(); }

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

// ---- scopes ----

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

// ---- notes ----

TapeNotes::TapeNotes() : TapeNotes(kRecord) {}
TapeNotes::TapeNotes(unsigned events) : TapeObserver(events), tape_(Tape::current()) { tape_.add_observer(*this); }
TapeNotes::~TapeNotes() { tape_.remove_observer(*this); }

void TapeNotes::on_record(const Tape& tape, std::size_t index, TensorArgs inputs) {
  // Notes of entries the tape has dropped go once the map outgrows the tape.
  if (notes_.size() > 2 * tape.size() + 1024)
    std::erase_if(notes_, [&](const auto& n) { return tape.find(n.first) < 0; });
  const TapeEntry& e = tape.entry(index);
  Note& note = notes_[e.id];
  std::string scope = current_scope();
  if (!last_scope_ || *last_scope_ != scope) last_scope_ = std::make_shared<const std::string>(std::move(scope));
  note.scope = last_scope_;
  note.constants.resize(inputs.size());
  for (std::size_t k = 0; k < inputs.size(); ++k)
    if (inputs[k].defined() && !e.inputs[k].needs_grad()) note.constants[k] = inputs[k].impl_ptr();
}

std::string TapeNotes::scope(std::uint64_t entry_id) const {
  auto it = notes_.find(entry_id);
  return it == notes_.end() || !it->second.scope ? std::string() : *it->second.scope;
}

Tensor TapeNotes::constant(std::uint64_t entry_id, std::size_t input) const {
  auto it = notes_.find(entry_id);
  if (it == notes_.end() || input >= it->second.constants.size()) return Tensor();
  return Tensor(it->second.constants[input].lock());
}

const TapeNotes* notes_of(const Tape& tape) {
  for (auto it = tape.observers().rbegin(); it != tape.observers().rend(); ++it)
    if (auto* notes = dynamic_cast<const TapeNotes*>(*it)) return notes;
  return nullptr;
}

// ---- anomaly mode ----

DetectAnomalyGuard::DetectAnomalyGuard() : observer_(std::make_unique<AnomalyObserver>()) { ++anomaly_depth; }
DetectAnomalyGuard::~DetectAnomalyGuard() { --anomaly_depth; }
bool is_anomaly_enabled() { return anomaly_depth > 0; }

}  // namespace tg
