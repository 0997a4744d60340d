// SPDX-License-Identifier: MIT
#pragma once
// The tape explorer: a recorder that keeps what one training step computed (every entry's
// inputs and outputs, every gradient backward sent), and a page that steps through it in a
// browser, forward entry by entry and then backward. docs/walkthrough.md, "The tape explorer".
//
//   tg::TapeRecorder rec(model.named_parameters());  // before the forward pass
//   tg::Tensor loss = tg::cross_entropy(model(x), y);
//   loss.backward();
//   rec.stop();                                      // the next steps are not recorded
//   rec.write_html("step.html");                     // one file: open it in any browser
//
// Why a recorder: after backward() the tape's entries are freed and its intermediate values
// are held weakly, so nothing is left to show. The recorder copies what the page shows as the
// step runs: each value once (a tensor that feeds several entries is one value), downsampled
// when it is large (TapeRecorderOptions), with its minimum, maximum and mean computed from
// every element.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/observer.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

struct TapeRecorderOptions {
  // A tensor with at most this many elements is kept whole and shown as PyTorch prints it.
  std::int64_t print_limit = 100;
  // A larger one is kept as a heat map: each 2-D slice (its last two dims) averaged in blocks
  // down to at most this many rows and columns, ...
  std::int64_t heat_size = 48;
  // ... and at most this many slices (the first indices of the leading dims; the page offers
  // a selector for each leading dim).
  std::int64_t max_slices = 16;
  // The graph is drawn for at most this many entries, and when Graphviz lays it out within
  // graph_timeout seconds; else the page shows the table alone and says why. (dot needs about
  // a minute for the 300 entries of a few LSTM steps, and its drawing would not be readable.)
  std::int64_t max_graph_entries = 500;
  double graph_timeout = 30;
};

// A tensor as the recorder keeps it (its values downsampled when large).
struct RecordedTensor {
  std::vector<std::int64_t> shape;
  std::string dtype;
  double min = 0, max = 0, mean = 0, norm = 0;
  std::int64_t nonfinite = 0;  // NaN and Inf elements (left out of min, max and mean)
  std::string text;            // as PyTorch prints it, when it has at most print_limit elements
  // The heat map: slices of rows x cols block means, for the first `kept[d]` indices of each
  // leading dim d (row-major over them); empty when `text` is set.
  std::vector<std::int64_t> kept;
  std::int64_t rows = 0, cols = 0, block_rows = 1, block_cols = 1;
  std::vector<float> cells;
};

// Records the entries of this thread's tape and what backward() does with them, from its
// construction until stop() (or its destruction). `names` labels leaves (pass
// Module::named_parameters()); name() labels other tensors (the data, the targets).
class TapeRecorder : public TapeObserver {
 public:
  explicit TapeRecorder(const std::vector<std::pair<std::string, Tensor>>& names = {},
                        TapeRecorderOptions options = {});
  ~TapeRecorder() override;
  TapeRecorder(const TapeRecorder&) = delete;
  TapeRecorder& operator=(const TapeRecorder&) = delete;

  // Labels `t` on the page ("X", "labels"); call it before the op that reads t records.
  TapeRecorder& name(const Tensor& t, std::string label);
  // Stops recording; what was recorded stays, for write_html. Idempotent.
  void stop();
  bool recording() const { return observing_; }

  // What was recorded: entries (forward, then those a backward with create_graph added) and
  // backward steps, in the order they ran.
  std::size_t num_entries() const { return entries_.size(); }
  std::size_t num_backward_steps() const { return steps_.size(); }

  // The page: one self-contained HTML file (inline CSS, script and data; no network access),
  // with the graph drawn by Graphviz's `dot` when it is on PATH (else the table alone).
  // `title` heads it. Written atomically. Throws ValueError when nothing was recorded (the
  // recorder was made after the forward pass, or recording was off), IoError when the file
  // cannot be written. Large values are downsampled further so that the page stays within
  // max_bytes (5 MB by default); the graph is never cut.
  void write_html(const std::string& path, const std::string& title = "tapegrad: one training step",
                  std::int64_t max_bytes = 5'000'000) const;
  // The data the page shows, as JSON (what write_html embeds), with heat maps quantized to
  // fit `budget` bytes; for tests and other viewers.
  std::string to_json(std::int64_t budget = 3'000'000) const;
  // The graph of the recorded entries in Graphviz DOT: node ids "e3" (entry 3) and "v5"
  // (value 5: a leaf or a constant), which the page uses to highlight the current entry.
  std::string to_dot() const;

  void on_record(const Tape& tape, std::size_t index, TensorArgs inputs) override;
  void on_backward_entry(const Tape& tape, std::size_t index) override;
  void on_backward_input(const Tape& tape, std::size_t index, std::size_t input, const Tensor& grad) override;

 private:
  struct Value {  // a tensor as the page shows it: an entry's output, a leaf or a constant
    std::string name;
    enum Kind { kOutput, kLeaf, kConstant } kind = kOutput;
    std::int64_t entry = -1;  // kOutput: the entry that computed it
    std::size_t output = 0;
    RecordedTensor data;
    Tensor leaf;                // kLeaf: held, so that its final .grad can be read, and its address stays unique
    RecordedTensor final_grad;  // kLeaf: its .grad when recording stopped
    bool has_final_grad = false;
  };
  struct Saved {
    std::string what;  // "input 0", "output 0", "a tensor"
    std::vector<std::int64_t> shape;
    std::string dtype;
    std::int64_t bytes = 0;
  };
  struct Entry {
    std::string op, vjp, scope;
    std::size_t tape_index = 0;
    std::vector<std::int64_t> inputs;  // value ids; -1 for an undefined (optional) input
    std::vector<char> needs_grad;
    std::vector<std::int64_t> outputs;  // value ids
    std::vector<Saved> saved;
    std::int64_t saved_bytes = 0;
    // The entry whose backward (create_graph) recorded this one; -1: the forward pass; -2: an
    // entry not recorded; -3: backward itself (summing a shared leaf's gradients).
    std::int64_t made_by = -1;
    std::int64_t made_in = -1;  // ... and the backward step during which it was recorded
    std::int64_t at = 0;        // when it was recorded, among the entries and backward steps
  };
  struct Send {
    std::size_t input = 0;
    std::int64_t value = -1;
    RecordedTensor grad;
  };
  struct Step {
    std::int64_t entry = -1;
    int pass = 0;                             // backward() calls are numbered from 0
    std::int64_t at = 0;                      // when it ran, among the entries and backward steps
    std::vector<RecordedTensor> grad_output;  // per output; shape empty when none arrived
    std::vector<char> has_grad_output;
    std::vector<Send> sends;
  };

  RecordedTensor snapshot(const Tensor& t) const;
  template <class T>
  RecordedTensor snapshot_of(const Tensor& t, const T* values) const;
  std::int64_t value_of_input(const Tape& tape, std::size_t index, std::size_t k, const Tensor& t);
  std::string name_of(const Tensor& t, bool leaf);

  TapeRecorderOptions options_;
  Tape& tape_;
  bool observing_ = false;
  std::map<const TensorImpl*, std::string> given_names_;
  std::vector<Tensor> named_;  // holds the named tensors, so that their addresses stay theirs
  std::map<const TensorImpl*, std::int64_t> leaf_values_;
  std::map<std::uint64_t, std::int64_t> entry_of_id_;  // tape entry id -> entry
  std::vector<Value> values_;
  std::vector<Entry> entries_;
  std::vector<Step> steps_;
  std::int64_t current_step_ = -1;  // the backward step running, or -1 (an entry not recorded)
  int leaves_ = 0, constants_ = 0;
  std::int64_t events_ = 0;  // entries recorded and backward steps run, so far
};

}  // namespace tg
