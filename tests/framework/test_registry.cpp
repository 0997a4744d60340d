// SPDX-License-Identifier: MIT
// The checks that derive from the registry (tapegrad/registry.hpp): every differentiable op
// is run on every sample its entry generates, through gradcheck and adjoint_check, with each
// input left undefined, with each dtype it does not accept, on the calls it must refuse, and
// against PyTorch's values. A new op gets all of this from its registry entry; an op without
// samples or without a PyTorch fixture fails here.
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "framework/ops/op_test_util.hpp"
#include "test_util.hpp"

using tg::OpInfo;
using tg::OpSample;
using tg::Tensor;

namespace {

using Inputs = std::vector<Tensor>;

std::vector<OpSample> samples_of(const OpInfo& op) {
  tg::Generator gen(2026);
  return op.samples(gen);
}

// The checks take defined tensors only: a sample with an input left out (no bias) is called
// through a function of its defined inputs.
struct Defined {
  Inputs inputs;
  std::function<Tensor(const Inputs&)> call;
};

Defined defined_only(const OpSample& s) {
  Defined d;
  std::vector<int> where;  // index in s.inputs of each defined input
  for (std::size_t k = 0; k < s.inputs.size(); ++k)
    if (s.inputs[k].defined()) {
      d.inputs.push_back(s.inputs[k]);
      where.push_back(static_cast<int>(k));
    }
  d.call = [s, where](const Inputs& v) {
    Inputs all(s.inputs.size());
    for (std::size_t j = 0; j < where.size(); ++j) all[static_cast<std::size_t>(where[j])] = v[j];
    return s.call(all);
  };
  return d;
}

// The names of the ops the call records, in order.
std::vector<std::string> recorded_ops(const OpSample& s) {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor y = s.call(s.inputs);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < tape.size(); ++i) names.emplace_back(tape.entry(i).op->name);
  tape.clear();
  return names;
}

}  // namespace

TEST_CASE("the registry lists every op once, each with samples that record it", "[registry]") {
  std::set<std::string> names;
  REQUIRE(tg::builtin_ops().size() >= 45);
  for (const OpInfo* op : tg::builtin_ops()) {
    INFO("op " << op->name);
    CHECK(names.insert(op->name).second);
    CHECK(op->builtin);
    CHECK(tg::op_by_index(op->index) == op);
    CHECK(tg::find_builtin_op(op->name) == op);
    REQUIRE(op->samples);  // every built-in op can be called by the checks
    std::vector<OpSample> samples = samples_of(*op);
    CHECK(!samples.empty());
    std::set<std::string> labels;
    for (const OpSample& s : samples) {
      INFO("sample '" << s.label << "'");
      CHECK(labels.insert(s.label).second);
      if (op->num_inputs != OpInfo::kVariadic) CHECK(s.inputs.size() == static_cast<std::size_t>(op->num_inputs));
      std::vector<std::string> ops = recorded_ops(s);
      CHECK(std::find(ops.begin(), ops.end(), op->name) != ops.end());  // the sample exercises its op
    }
  }
}

TEST_CASE("every registry op passes gradcheck on each of its samples", "[registry][gradcheck]") {
  for (const OpInfo* op : tg::builtin_ops())
    for (const OpSample& s : samples_of(*op)) {
      INFO(op->name << ", sample '" << s.label << "'");
      Defined d = defined_only(s);
      tg::GradcheckResult r = tg::gradcheck(d.call, d.inputs, {.eps = s.eps});
      INFO(r.message);
      CHECK(r.ok);
      CHECK(r.notes.empty());  // samples are float64 already
    }
}

// Note [second derivatives]: every op's backward can be differentiated again (its backward
// functions are written in registry ops, or call a kernel op with its own registry entry),
// so gradgradcheck holds on every sample too: the recorded backward against central
// differences of first derivatives, in float64.
TEST_CASE("every registry op passes gradgradcheck on each of its samples", "[registry][gradgradcheck]") {
  for (const OpInfo* op : tg::builtin_ops())
    for (const OpSample& s : samples_of(*op)) {
      INFO(op->name << ", sample '" << s.label << "'");
      Defined d = defined_only(s);
      tg::GradcheckResult r = tg::gradgradcheck(d.call, d.inputs, {.eps = s.eps});
      INFO(r.message);
      CHECK(r.ok);
    }
}

TEST_CASE("every registry op passes adjoint_check on each of its samples, and is tested there",
          "[registry][adjoint_check]") {
  for (const OpInfo* op : tg::builtin_ops())
    for (const OpSample& s : samples_of(*op)) {
      Defined d = defined_only(s);
      tg::AdjointCheckReport r = tg::adjoint_check(d.call, d.inputs, {.eps = s.eps, .rtol = s.tolerance});
      INFO(op->name << ", sample '" << s.label << "'\n" << tg::to_string(r));
      CHECK(r.ok);
      bool tested = false;
      for (const tg::AdjointCheckOp& e : r.ops) {
        CHECK(e.skipped.empty());
        tested = tested || (e.op == op->name && e.skipped.empty());
      }
      CHECK(tested);
    }
}

TEST_CASE("an undefined input to any registry op is a ValueError naming the op", "[registry][bad_input]") {
  for (const OpInfo* op : tg::builtin_ops()) {
    const OpSample s = samples_of(*op).front();
    int rows = 0;  // every op has an input it cannot do without
    for (std::size_t k = 0; k < s.inputs.size(); ++k) {
      if ((op->optional_inputs >> k & 1) || !s.inputs[k].defined()) continue;
      INFO(op->name << ", input " << k << " undefined");
      Inputs inputs = s.inputs;
      inputs[k] = Tensor();
      ++rows;
      try {
        s.call(inputs);
        FAIL_CHECK("no exception was thrown");
      } catch (const tg::ValueError& e) {
        CHECK_THAT(e.what(), Catch::StartsWith(std::string(op->name) + ": ") && Catch::Contains("undefined tensor") &&
                                 Catch::Contains("pass a tensor with data"));
      }
    }
    INFO(op->name);
    CHECK(rows > 0);
  }
}

TEST_CASE("a dtype a registry op does not accept is a DtypeError naming the op and the dtype",
          "[registry][bad_input]") {
  int rows = 0;
  for (const OpInfo* op : tg::builtin_ops()) {
    const OpSample s = samples_of(*op).front();
    for (tg::Dtype d : {tg::kFloat32, tg::kFloat64, tg::kInt64, tg::kBool}) {
      if (op->dtypes.contains(d)) continue;
      // Every differentiable input (the ones of the accepted dtypes) in dtype d.
      Inputs inputs = s.inputs;
      for (std::size_t k = 0; k < inputs.size(); ++k)
        if (inputs[k].defined() && !(op->no_grad_inputs >> k & 1)) inputs[k] = inputs[k].detach().to(d);
      INFO(op->name << " on " << tg::dtype_name(d));
      ++rows;
      try {
        s.call(inputs);
        FAIL_CHECK("no exception was thrown");
      } catch (const tg::DtypeError& e) {
        CHECK_THAT(e.what(), Catch::StartsWith(std::string(op->name) + ": ") &&
                                 Catch::Contains(std::string(tg::dtype_name(d))) && Catch::Contains(".to(tg::k"));
      }
    }
  }
  CHECK(rows >= 40);
}

TEST_CASE("every registry op refuses the calls its entry lists, with the message it lists", "[registry][bad_input]") {
  int rows = 0;
  for (const OpInfo* op : tg::builtin_ops()) {
    // An op of several inputs can be given inputs that disagree: it must list such a call.
    INFO(op->name << " takes " << op->num_inputs << " inputs but lists no call it refuses");
    CHECK((op->errors || op->num_inputs == 1));
    if (!op->errors) continue;
    for (const tg::OpErrorSample& bad : op->errors()) {
      INFO(op->name << ": " << bad.label);
      ++rows;
      try {
        bad.call();
        FAIL_CHECK("no exception was thrown");
      } catch (const tg::Error& e) {
        using Kind = tg::OpErrorSample::Kind;
        bool right_kind = bad.kind == Kind::Shape      ? dynamic_cast<const tg::ShapeError*>(&e) != nullptr
                          : bad.kind == Kind::Dtype    ? dynamic_cast<const tg::DtypeError*>(&e) != nullptr
                          : bad.kind == Kind::Autograd ? dynamic_cast<const tg::AutogradError*>(&e) != nullptr
                                                       : dynamic_cast<const tg::ValueError*>(&e) != nullptr;
        INFO("message: " << e.what());
        CHECK(right_kind);
        for (const std::string& piece : bad.contains) CHECK_THAT(e.what(), Catch::Contains(piece));
      }
    }
  }
  CHECK(rows >= 20);  // the loop above ran over the lists, not over nothing
}

namespace {

std::string stem(const OpInfo& op, const OpSample& s) {
  std::string name = op.name;
  if (!s.label.empty()) {
    name += '.';
    name += std::regex_replace(s.label, std::regex("[ ,]+"), "_");
  }
  return name;
}

std::filesystem::path registry_fixture(const std::string& name) {
  return tg::test::fixture("torch/registry/" + name + ".npy");
}

}  // namespace

TEST_CASE("every registry op matches PyTorch's values on the samples the fixtures hold", "[registry][torch]") {
  // scripts/fixtures/registry.py writes the fixtures; float32 on both sides.
  constexpr double kRtol = 1e-5, kAtol = 1e-6;
  int compared = 0;
  for (const OpInfo* op : tg::builtin_ops()) {
    int with_fixture = 0;
    for (const OpSample& s : samples_of(*op)) {
      const std::string name = stem(*op, s);
      if (!std::filesystem::exists(registry_fixture(name + ".out"))) continue;
      INFO(op->name << ", sample '" << s.label << "' (fixtures " << name << ".*)");
      ++with_fixture;
      Inputs inputs(s.inputs.size());
      for (std::size_t k = 0; k < inputs.size(); ++k) {
        const auto path = registry_fixture(name + ".in" + std::to_string(k));
        REQUIRE(std::filesystem::exists(path) == s.inputs[k].defined());
        if (!s.inputs[k].defined()) continue;
        inputs[k] = tg::load_npy(path.string());
        if (s.inputs[k].requires_grad()) inputs[k].requires_grad_();
      }
      Tensor y = s.call(inputs);
      Tensor want = tg::load_npy(registry_fixture(name + ".out").string());
      INFO("tapegrad: " << tg::to_string(y) << "\ntorch:    " << tg::to_string(want));
      CHECK(y.dtype() == want.dtype());
      CHECK(tg::test::allclose(y, want, kRtol, kAtol));
      (y * tg::load_npy(registry_fixture(name + ".grad_out").string())).sum().backward();
      for (std::size_t k = 0; k < inputs.size(); ++k) {
        if (!inputs[k].defined() || !inputs[k].requires_grad()) continue;
        INFO("gradient of input " << k);
        REQUIRE(inputs[k].grad().defined());
        CHECK(tg::test::allclose(inputs[k].grad(),
                                 tg::load_npy(registry_fixture(name + ".grad_in" + std::to_string(k)).string()), kRtol,
                                 kAtol));
      }
      ++compared;
    }
    INFO("op " << op->name
               << " has no PyTorch fixture: add a line for it to scripts/fixtures/registry.py and run it "
                  "with /usr/bin/python3 (or say in its registry entry why it cannot have one)");
    CHECK((with_fixture > 0 || op->no_fixture != nullptr));
    if (op->no_fixture) CHECK(with_fixture == 0);
  }
  CHECK(compared >= 60);
}
