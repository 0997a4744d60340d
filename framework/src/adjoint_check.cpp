// SPDX-License-Identifier: MIT
#include "tapegrad/adjoint_check.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "tapegrad/error.hpp"
#include "tapegrad/inspect.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

namespace {

using Values = std::vector<double>;

double dot(const Values& a, const Values& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double norm(const Values& a) { return std::sqrt(dot(a, a)); }

// (plus - minus) / (2 eps), elementwise: the tangent of a tensor along v.
Values difference_quotient(const Tensor& plus, const Tensor& minus, double eps) {
  Values t = plus.tolist(), m = minus.tolist();
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = (t[i] - m[i]) / (2 * eps);
  return t;
}

// The verdict on forward = <J v, u> and backward = sum_i <v_i, J_i^T u>, where `bound` is
// |J v| |u| + sum_i |v_i| |J_i^T u|, the most either side can be by Cauchy-Schwarz.
AdjointTest judge(double forward, double backward, double bound, double rtol) {
  AdjointTest t{forward, backward, 0, true};
  double diff = std::abs(forward - backward);
  if (!std::isfinite(forward) || !std::isfinite(backward))
    t.error = std::numeric_limits<double>::infinity();
  else if (diff > 0)
    t.error = bound > 0 ? diff / bound : std::numeric_limits<double>::infinity();
  t.passed = t.error <= rtol;
  return t;
}

// The values each entry's inputs and outputs had when it was recorded, for every entry f
// records: a later in-place op may overwrite them (the tensor then holds its new value), and
// the per-op tests need the values the op saw and made.
struct Snapshots : TapeObserver {
  Snapshots() : TapeObserver(kRecord) {}
  struct Values {
    std::vector<Tensor> inputs, outputs;  // copies; undefined where there was none
  };
  std::unordered_map<std::uint64_t, Values> of;
  void on_record(const Tape& tape, std::size_t index, TensorArgs inputs) override {
    NoGradGuard no_grad;
    const TapeEntry& e = tape.entry(index);
    Values& v = of[e.id];
    for (std::size_t k = 0; k < inputs.size(); ++k)
      v.inputs.push_back(inputs[k].defined() ? inputs[k].detach().clone() : Tensor());
    for (const EntryOutput& o : e.outputs) {
      Tensor out(o.tensor.lock());
      v.outputs.push_back(out.defined() ? out.detach().clone() : Tensor());
    }
  }
  const Values& at(const Tape& tape, std::size_t index) const { return of.at(tape.entry(index).id); }
};

std::uint64_t last_id(const Tape& tape) { return tape.size() ? tape.entry(tape.size() - 1).id : 0; }

// The index of the first entry with an id above `id` (ids increase along the tape).
std::size_t first_after(const Tape& tape, std::uint64_t id) {
  std::size_t lo = 0, hi = tape.size();
  while (lo < hi) {
    std::size_t mid = lo + (hi - lo) / 2;
    if (tape.entry(mid).id <= id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

// One evaluation of f on the tape: its result, and the entries that one run recorded
// (ids in (after, upto]) which the result depends on, by tape index, in tape order.
struct Run {
  Tensor y;
  std::uint64_t after = 0, upto = 0;
  std::vector<std::size_t> graph;
};

// Note: the runs are matched through the entries that their results depend on, not
// through all they recorded. The tape drops entries whose outputs died when it grows
// past a threshold, so one run may lose an entry that f discarded while another keeps
// it; an entry the result depends on is held by its consumers and is never dropped.
void find_graph(const Tape& tape, Run& run) {
  const TapeView view(tape);
  std::int64_t top = view.index_of(run.y);
  std::size_t first = first_after(tape, run.after);
  if (top < 0 || static_cast<std::size_t>(top) < first) return;  // y is a leaf, or computed before f ran
  std::vector<char> used = view.reachable(run.y, "adjoint_check");
  for (std::size_t i = first; i <= static_cast<std::size_t>(top); ++i)
    if (used[i]) run.graph.push_back(i);
}

// Throws unless the perturbed run recorded the same ops, with outputs of the same shapes.
void check_same_ops(const Tape& tape, const Snapshots& snaps, const Run& base, const Run& other, const char* where) {
  const char* fix =
      "the per-op check needs f to run the same ops for nearby inputs (control flow on values, or a random op "
      "drawing from a generator that f does not seed itself, breaks that); pass per_op = false to test f as a whole";
  if (base.graph.size() != other.graph.size())
    fail<ValueError>("adjoint_check: f's result is computed by a graph of {} op(s) at x but of {} at {}; {}",
                     base.graph.size(), other.graph.size(), where, fix);
  const std::size_t first = first_after(tape, base.after);
  const TapeView view(tape);
  for (std::size_t k = 0; k < base.graph.size(); ++k) {
    const char* op = view.op(base.graph[k]).name;
    const char* seen = view.op(other.graph[k]).name;
    if (std::strcmp(op, seen) != 0)
      fail<ValueError>("adjoint_check: entry {} that f recorded is {} at x, but {} at {}; {}", base.graph[k] - first,
                       op, seen, where, fix);
    Shape a = snaps.at(tape, base.graph[k]).outputs[0].shape(), b = snaps.at(tape, other.graph[k]).outputs[0].shape();
    if (!(a == b))
      fail<ValueError>("adjoint_check: entry {} that f recorded ({}) has output shape {} at x, but {} at {}; {}",
                       base.graph[k] - first, op, a, b, where, fix);
  }
}

bool same_values(const Tensor& a, const Tensor& b) { return a.impl_ptr() == b.impl_ptr() || a.tolist() == b.tolist(); }

bool is_one_of(const Tensor& t, const std::vector<Tensor>& xs) {
  return std::any_of(xs.begin(), xs.end(), [&](const Tensor& x) { return x.impl_ptr() == t.impl_ptr(); });
}

// The leaves that require grad in the graph of f's result without being f's inputs (a
// layer's parameters that f captures), each with a copy of its gradient.
std::vector<std::pair<Tensor, Tensor>> captured_leaves(const Tape& tape, const Run& base,
                                                       const std::vector<Tensor>& xs) {
  const TapeView view(tape);
  std::vector<Tensor> leaves{base.y};
  for (std::size_t i : base.graph)
    for (std::size_t j = 0; j < view.num_inputs(i); ++j) leaves.push_back(view.input(i, j));
  std::vector<std::pair<Tensor, Tensor>> captured;
  for (const Tensor& leaf : leaves) {
    if (!leaf.defined() || !leaf.requires_grad() || !leaf.is_leaf() || is_one_of(leaf, xs)) continue;
    bool seen = false;
    for (const auto& c : captured) seen = seen || c.first.impl_ptr() == leaf.impl_ptr();
    if (!seen) captured.emplace_back(leaf, leaf.grad().defined() ? leaf.grad().clone() : Tensor());
  }
  return captured;
}

// Tests every entry that f's run at x recorded, appending one AdjointCheckOp each to
// report.ops. runs[0] is the run at x, runs[1] at x + eps v, runs[2] at x - eps v, their
// graphs matched op by op (check_same_ops).
void test_ops(Tape& tape, const Snapshots& snaps, const std::array<const Run*, 3>& runs, const std::vector<Tensor>& xs,
              const std::vector<Values>& v, Generator& gen, const AdjointCheckOptions& options,
              AdjointCheckReport& report) {
  const TapeView view(tape);
  const Run &base = *runs[0], &up = *runs[1], &down = *runs[2];
  const std::size_t first = first_after(tape, base.after), end = first_after(tape, base.upto);
  // position[i - first]: where entry i sits in base.graph, or -1 if the result does not use it
  std::vector<std::int64_t> position(end - first, -1);
  std::vector<std::vector<Values>> tangent(base.graph.size());  // of each output, along v
  for (std::size_t k = 0; k < base.graph.size(); ++k) {
    position[base.graph[k] - first] = static_cast<std::int64_t>(k);
    const auto &a = snaps.at(tape, up.graph[k]).outputs, &b = snaps.at(tape, down.graph[k]).outputs;
    for (std::size_t o = 0; o < a.size(); ++o) tangent[k].push_back(difference_quotient(a[o], b[o], options.eps));
  }
  for (std::size_t i = first; i < end; ++i) {
    AdjointCheckOp& op = report.ops.emplace_back();
    op.entry = i - first;
    op.op = view.op(i).name;
    std::int64_t k = position[i - first];
    if (k < 0) {
      op.skipped = view.output(i).defined() ? "not used by f's result" : "output freed: f did not keep it";
      continue;
    }
    const std::vector<Values>& t_out = tangent[static_cast<std::size_t>(k)];
    const auto& at_up = snaps.at(tape, up.graph[static_cast<std::size_t>(k)]);
    const auto& at_down = snaps.at(tape, down.graph[static_cast<std::size_t>(k)]);
    // The tangent of each input: its producer's, v for an input of f, and zero (nullptr)
    // for anything else: a constant, a leaf f captures, a tensor computed before f ran.
    std::vector<const Values*> t_in(view.num_inputs(i), nullptr);
    for (std::size_t j = 0; j < view.num_inputs(i) && op.skipped.empty(); ++j) {
      if (!view.needs_grad(i, j)) {
        // Note: a constant computed from the inputs off the tape (detach(), NoGradGuard)
        // changes between the runs while no gradient reaches it, so the op's two sides
        // cannot agree; that is f's doing, not the op's.
        const Tensor &a = at_up.inputs[j], &b = at_down.inputs[j];
        if (a.defined() && b.defined() && !same_values(a, b))
          op.skipped = fmt::format(
              "input {} is a constant that changes with f's inputs (computed through detach() or under "
              "NoGradGuard), so no gradient reaches it",
              j);
        continue;
      }
      std::int64_t p = view.producer(i, j);
      if (p >= static_cast<std::int64_t>(first))
        t_in[j] = &tangent[static_cast<std::size_t>(position[static_cast<std::size_t>(p) - first])]
                          [view.producer_output(i, j)];
      Tensor in = view.input(i, j);
      for (std::size_t x = 0; x < xs.size() && p < 0; ++x)
        if (xs[x].impl_ptr() == in.impl_ptr()) t_in[j] = &v[x];
    }
    if (!op.skipped.empty()) continue;
    const auto& outs = snaps.at(tape, i).outputs;
    std::vector<Tensor> u;
    double forward = 0, backward = 0, bound = 0;
    for (std::size_t o = 0; o < outs.size(); ++o) {
      if (!outs[o].defined() || !outs[o].is_floating_point()) {  // indices, masks: no gradient flows back
        u.emplace_back();
        continue;
      }
      u.push_back(randn(outs[o].shape(), gen, {.dtype = outs[o].dtype()}));
      const Values u_values = u.back().tolist();
      forward += dot(t_out[o], u_values);
      bound += norm(t_out[o]) * norm(u_values);
    }
    std::vector<Tensor> grads = tape.entry_backward(i, u);
    for (std::size_t j = 0; j < grads.size(); ++j) {
      if (!t_in[j] || !grads[j].defined()) continue;
      Values g = grads[j].tolist();
      if (g.size() != t_in[j]->size())
        fail<AutogradError>(
            "adjoint_check: the backward of {} (entry {}) gave input {} a gradient of {} elements, but the input has "
            "{}",
            op.op, op.entry, j, g.size(), t_in[j]->size());
      backward += dot(*t_in[j], g);
      bound += norm(*t_in[j]) * norm(g);
    }
    op.test = judge(forward, backward, bound, options.rtol);
    if (report.worst < 0 || !(op.test.error <= report.ops[static_cast<std::size_t>(report.worst)].test.error))
      report.worst = static_cast<std::int64_t>(report.ops.size() - 1);
    report.ok = report.ok && op.test.passed;
  }
}

std::string failure_message(const AdjointCheckReport& r) {
  std::string whole = fmt::format("<J v, u> = {} by central differences but <v, J^T u> = {} from backward()",
                                  r.whole.forward, r.whole.backward);
  if (r.worst >= 0 && !r.ops[static_cast<std::size_t>(r.worst)].test.passed) {
    const AdjointCheckOp& w = r.ops[static_cast<std::size_t>(r.worst)];
    return fmt::format(
        "adjoint_check: the backward of {} (entry {} of the ops f recorded) fails the dot-product test: <J v, u> = "
        "{} by central differences of its output but <v, J^T u> = {} from its backward closure, error {:.3g} > rtol "
        "{}. f as a whole: {} (error {:.3g})",
        w.op, w.entry, w.test.forward, w.test.backward, w.test.error, r.rtol, whole, r.whole.error);
  }
  return fmt::format(
      "adjoint_check: f fails the dot-product test: {}, error {:.3g} > rtol {}. Every op tested on its own passed, "
      "so look at what f computes outside the tape (detach(), NoGradGuard, tensors written in place)",
      whole, r.whole.error, r.rtol);
}

}  // namespace

AdjointCheckReport adjoint_check(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                 const std::vector<Tensor>& inputs, const AdjointCheckOptions& options) {
  if (!f) fail<ValueError>("adjoint_check: f is empty; pass a function of the inputs");
  if (!(std::isfinite(options.eps) && options.eps > 0))
    fail<ValueError>("adjoint_check: eps must be a positive finite step, got {}; the default 1e-6 suits float64",
                     options.eps);
  if (!(std::isfinite(options.rtol) && options.rtol > 0))
    fail<ValueError>(
        "adjoint_check: rtol must be positive and finite, got {}; central differences in float64 agree with "
        "backward to about 1e-10, and the default is 1e-6",
        options.rtol);
  if (inputs.empty()) fail<ValueError>("adjoint_check: no inputs; pass the tensors f is a function of");
  bool any_requires = false;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    if (!inputs[k].defined()) fail<ValueError>("adjoint_check: input {} is undefined; pass a tensor", k);
    any_requires = any_requires || inputs[k].requires_grad();
  }

  // The inputs f runs on: copies, so that the caller's tensors keep their data and get no
  // gradient; x + eps v and x - eps v for the perturbed runs. Constants are shared.
  Generator gen(options.seed);
  AdjointCheckReport report;
  std::vector<Tensor> xs, plus, minus;
  std::vector<Values> v(inputs.size());
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    bool checked = any_requires ? inputs[k].requires_grad() : inputs[k].is_floating_point();
    NoGradGuard no_grad;
    Tensor x = inputs[k].detach().clone();
    // Central differences need float64: in float32 they lose about half their digits.
    if (checked && x.dtype() != kFloat64) {
      report.notes.push_back(fmt::format("input {} {} converted from {} to float64 for central differences", k,
                                         x.shape(), dtype_name(x.dtype())));
      x = x.to(kFloat64);
    }
    if (!checked) {
      xs.push_back(x);
      plus.push_back(x);
      minus.push_back(x);
      continue;
    }
    Tensor dv = randn(x.shape(), gen, {.dtype = kFloat64});
    v[k] = dv.tolist();
    plus.push_back((x + dv * options.eps).requires_grad_());
    minus.push_back((x - dv * options.eps).requires_grad_());
    xs.push_back(x.requires_grad_());
  }

  // Three runs: on the tape when ops are tested, without it otherwise; the notes keep the
  // constants each entry read, and the snapshots the values of its inputs and outputs.
  Tape& tape = Tape::current();
  TapeNotes notes;
  Snapshots snaps;
  ObserveTape watch(snaps);
  Run base, up, down;
  auto evaluate = [&](Run& run, const std::vector<Tensor>& x) {
    run.after = last_id(tape);
    try {
      run.y = f(x);
    } catch (const DtypeError& e) {
      if (report.notes.empty()) throw;
      fail<DtypeError>(
          "adjoint_check: {}; f was called with its inputs converted to float64 ({}): test it in float64 "
          "or with gradcheck's float32 tolerances",
          e.what(), fmt::join(report.notes, "; "));
    }
    run.upto = std::max(run.after, last_id(tape));
  };
  evaluate(base, xs);
  if (!base.y.defined() || !base.y.requires_grad())
    fail<AutogradError>(
        "adjoint_check: f's output does not require grad; f must compute it from its inputs, with grad mode on "
        "(not inside a NoGradGuard)");
  {
    std::optional<NoGradGuard> no_grad;
    if (!options.per_op) no_grad.emplace();
    evaluate(up, plus);
    evaluate(down, minus);
  }
  for (const Tensor* y : {&up.y, &down.y})
    if (!y->defined() || !(y->shape() == base.y.shape()))
      fail<ValueError>(
          "adjoint_check: f's output has shape {} at x but {} at x + eps v or x - eps v; f must give one shape "
          "for nearby inputs",
          base.y.shape(), y->defined() ? fmt::format("{}", y->shape()) : std::string("undefined"));

  report.rtol = options.rtol;
  Tensor u = randn(base.y.shape(), gen, {.dtype = base.y.dtype()});
  const Values u_values = u.tolist();
  const Values jv = difference_quotient(up.y, down.y, options.eps);
  double whole_forward = dot(jv, u_values);

  find_graph(tape, base);
  // Leaves that f captures (parameters) get a share of the gradient of the backward()
  // below: their gradients are saved here and put back afterwards.
  std::vector<std::pair<Tensor, Tensor>> captured = captured_leaves(tape, base, xs);
  if (options.per_op) {
    find_graph(tape, up);
    find_graph(tape, down);
    check_same_ops(tape, snaps, base, up, "x + eps v");
    check_same_ops(tape, snaps, base, down, "x - eps v");
    test_ops(tape, snaps, {&base, &up, &down}, xs, v, gen, options, report);
  }
  // f as a whole: one backward() seeded with u.
  base.y.backward(u);
  double whole_backward = 0, whole_bound = norm(jv) * norm(u_values);
  for (std::size_t k = 0; k < xs.size(); ++k) {
    Tensor g = xs[k].requires_grad() ? xs[k].grad() : Tensor();
    if (!g.defined()) continue;
    Values gv = g.tolist();
    whole_backward += dot(v[k], gv);
    whole_bound += norm(v[k]) * norm(gv);
  }
  for (auto& [leaf, grad] : captured) {
    if (grad.defined())
      leaf.grad().copy_(grad);
    else
      leaf.set_grad(Tensor());
  }
  report.whole = judge(whole_forward, whole_backward, whole_bound, options.rtol);
  report.ok = report.ok && report.whole.passed;
  if (!report.ok) {
    report.message = failure_message(report);
    if (options.throw_on_failure) throw AutogradError(report.message);
  }
  return report;
}

std::string to_string(const AdjointCheckReport& r) {
  std::size_t tested = 0, skipped = 0;
  for (const AdjointCheckOp& op : r.ops) (op.skipped.empty() ? tested : skipped) += 1;
  std::string out = fmt::format("adjoint_check: {} (rtol {}): f and {} ops tested, {} skipped\n",
                                r.ok ? "passed" : "FAILED", r.rtol, tested, skipped);
  for (const std::string& note : r.notes) out += "note: " + note + "\n";
  out += fmt::format("{:>5}  {:<14}{:>22}{:>22}{:>11}\n", "entry", "op", "<J v, u>", "<v, J^T u>", "error");
  for (std::size_t k = 0; k < r.ops.size(); ++k) {
    const AdjointCheckOp& op = r.ops[k];
    if (!op.skipped.empty()) {
      out += fmt::format("{:>5}  {:<14}skipped: {}\n", op.entry, op.op, op.skipped);
      continue;
    }
    std::string mark = op.test.passed ? "" : "  FAILED";
    if (static_cast<std::int64_t>(k) == r.worst) mark += "  <- worst";
    out += fmt::format("{:>5}  {:<14}{:>22.13e}{:>22.13e}{:>11.2e}{}\n", op.entry, op.op, op.test.forward,
                       op.test.backward, op.test.error, mark);
  }
  out += fmt::format("{:>5}  {:<14}{:>22.13e}{:>22.13e}{:>11.2e}{}\n", "", "f (whole)", r.whole.forward,
                     r.whole.backward, r.whole.error, r.whole.passed ? "" : "  FAILED");
  return out;
}

}  // namespace tg
