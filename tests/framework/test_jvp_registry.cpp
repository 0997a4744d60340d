// SPDX-License-Identifier: MIT
// Forward mode over the registry: every op's JVP rule against its backward, by the dot-product
// test (the same sweep as adjoint_check): with random directions v (one per differentiable
// input) and u (shaped like the output),
//   <J v, u> == <v, J^T u>
// where J v comes from one forward pass on dual tensors and J^T u from tg::grad. Both sides
// are exact in float64, so they agree to rounding; an op without a rule leaves its output
// without a tangent and fails here.
#include <cmath>

#include "framework/ops/op_test_util.hpp"
#include "test_util.hpp"

using tg::OpInfo;
using tg::OpSample;
using tg::Tensor;
using tg::test::allclose;

namespace {

using Inputs = std::vector<Tensor>;

double dot(const Tensor& a, const Tensor& b) { return (a.to(tg::kFloat64) * b.to(tg::kFloat64)).sum().item<double>(); }
double norm(const Tensor& a) { return std::sqrt(dot(a, a)); }

bool differentiable(const OpInfo& op, const Inputs& inputs, std::size_t k) {
  (void)op;
  return inputs[k].defined() && inputs[k].requires_grad() && inputs[k].is_floating_point();
}

struct DotTest {
  double forward = 0, backward = 0, error = 0;
  bool has_tangent = false;
  double value_error = 0;  // the dual pass's value against the plain pass's
};

DotTest dot_test(const OpInfo& op, const OpSample& s, std::uint64_t seed) {
  tg::Generator gen(seed);
  const std::size_t n = s.inputs.size();
  Inputs v(n);
  for (std::size_t k = 0; k < n; ++k)
    if (differentiable(op, s.inputs, k)) v[k] = tg::randn(s.inputs[k].shape(), gen, {.dtype = s.inputs[k].dtype()});
  DotTest r;
  Tensor jv, value;
  {
    tg::DualLevel level;
    Inputs duals(n);
    for (std::size_t k = 0; k < n; ++k)
      duals[k] = v[k].defined() ? tg::make_dual(s.inputs[k].detach(), v[k]) : s.inputs[k];
    Tensor out = s.call(duals);
    tg::UnpackedDual d = tg::unpack_dual(out);
    r.has_tangent = d.tangent.defined();
    jv = d.tangent;
    value = d.primal.detach();
  }
  Tensor out = s.call(s.inputs);
  r.value_error = (value.to(tg::kFloat64) - out.detach().to(tg::kFloat64)).abs().max().item<double>();
  if (!r.has_tangent) return r;
  Tensor u = tg::randn(out.shape(), gen, {.dtype = tg::kFloat64});
  Inputs wrt;
  std::vector<std::size_t> where;
  for (std::size_t k = 0; k < n; ++k)
    if (v[k].defined()) {
      wrt.push_back(s.inputs[k]);
      where.push_back(k);
    }
  Inputs g = tg::grad({out}, wrt, {.grad_outputs = {u.to(out.dtype())}, .allow_unused = true});
  r.forward = dot(jv, u);
  double bound = norm(jv) * norm(u);
  for (std::size_t j = 0; j < wrt.size(); ++j) {
    if (!g[j].defined()) continue;
    r.backward += dot(v[where[j]], g[j]);
    bound += norm(v[where[j]]) * norm(g[j]);
  }
  r.error = bound == 0 ? 0 : std::abs(r.forward - r.backward) / bound;
  return r;
}

}  // namespace

TEST_CASE("every registry op states a JVP rule", "[registry][jvp]") {
  for (const OpInfo* op : tg::builtin_ops()) {
    INFO("op " << op->name);
    REQUIRE(op->jvp != nullptr);
    CHECK(std::string(op->jvp).size() > 3);
  }
}

// Reverse mode in words: every op states what its backward computes (OpInfo::vjp), with one
// "d<input> = ..." per input that gets a gradient, so a text that forgets an input, or says
// nothing, fails. The convention: at least one '=' per differentiable input, each of which
// the text names as a gradient (a word starting with 'd' just before " = ": "da = dy * b",
// "d(dY) = corr2d(G, K)"). A list op (cat, stack) names its inputs' gradient dx_k once.
TEST_CASE("every registry op states its backward math", "[registry][jvp]") {
  for (const OpInfo* op : tg::builtin_ops()) {
    INFO("op " << op->name);
    REQUIRE(op->vjp != nullptr);
    const std::string text = op->vjp;
    INFO("vjp \"" << text << "\"");
    CHECK(text.size() > 3);
    CHECK(text.find('\n') == std::string::npos);  // one line
    int differentiable_inputs = 1;                // a list op: its dx_k
    if (op->num_inputs != OpInfo::kVariadic) {
      differentiable_inputs = 0;
      for (int i = 0; i < op->num_inputs; ++i)
        if (((op->no_grad_inputs >> i) & 1) == 0) ++differentiable_inputs;
    }
    // Every '=', and those with a gradient's name ("d...") as the word before it.
    int equals = 0, named = 0;
    for (std::size_t at = text.find('='); at != std::string::npos; at = text.find('=', at + 1)) {
      ++equals;
      if (at < 2 || text[at - 1] != ' ') continue;
      std::size_t word = text.find_last_of(" ,;", at - 2);
      word = word == std::string::npos ? 0 : word + 1;
      if (word < at - 1 && text[word] == 'd') ++named;
    }
    INFO(differentiable_inputs << " differentiable inputs, " << equals << " '=', " << named << " named gradients");
    CHECK(equals >= differentiable_inputs);
    CHECK(named >= differentiable_inputs);
  }
}

TEST_CASE("every registry op's JVP agrees with its backward by the dot-product test", "[registry][jvp]") {
  std::uint64_t seed = 1;
  for (const OpInfo* op : tg::builtin_ops()) {
    tg::Generator gen(2026);
    for (const OpSample& s : op->samples(gen)) {
      INFO(op->name << ", sample '" << s.label << "'");
      DotTest r = dot_test(*op, s, seed++);
      CHECK(r.has_tangent);  // no tangent: the op (or one its sample calls) has no JVP rule
      CHECK(r.value_error == 0);
      double tol = s.tolerance > 1e-6 ? s.tolerance : 1e-10;  // float32 outputs round
      INFO("<J v, u> = " << r.forward << ", <v, J^T u> = " << r.backward << ", error " << r.error);
      CHECK(r.error <= tol);
    }
  }
}

// Forward over reverse over the registry: for every sample, the Hessian-vector product of
// <op(inputs), u> along v, by forward over reverse (the gradient taken inside a dual level,
// so that every op of each backward carries tangents) and by reverse over reverse. They are
// the same numbers computed two ways; an op whose backward drops or mixes up a tangent fails.
TEST_CASE("every registry op's backward carries tangents: hvp forward over reverse equals reverse over reverse",
          "[registry][jvp][hvp]") {
  std::uint64_t seed = 1;
  for (const OpInfo* op : tg::builtin_ops()) {
    tg::Generator sample_gen(2026);
    for (const OpSample& s : op->samples(sample_gen)) {
      INFO(op->name << ", sample '" << s.label << "'");
      tg::Generator gen(seed++);
      std::vector<std::size_t> where;
      Inputs xs, v;
      for (std::size_t k = 0; k < s.inputs.size(); ++k)
        if (differentiable(*op, s.inputs, k)) {
          where.push_back(k);
          xs.push_back(s.inputs[k].detach());
          v.push_back(tg::randn(s.inputs[k].shape(), gen, {.dtype = s.inputs[k].dtype()}));
        }
      if (xs.empty()) continue;
      Tensor u = tg::randn(s.call(s.inputs).shape(), gen, {.dtype = tg::kFloat64});
      tg::TensorFunction f = [&](const Inputs& x) {
        Inputs all = s.inputs;
        for (std::size_t j = 0; j < where.size(); ++j) all[where[j]] = x[j];
        Tensor out = s.call(all);
        return (out * u.to(out.dtype())).sum();
      };
      tg::HvpResult fwd = tg::hvp(f, xs, v, {.mode = tg::AdMode::Forward});
      tg::HvpResult rev = tg::hvp(f, xs, v, {.mode = tg::AdMode::Reverse});
      const double tol = s.tolerance > 1e-6 ? s.tolerance : 1e-9;
      CHECK(allclose(fwd.output, rev.output, tol, tol));
      for (std::size_t j = 0; j < xs.size(); ++j) {
        INFO("input " << where[j] << ": forward over reverse " << fwd.grads[j] << ", reverse over reverse "
                      << rev.grads[j]);
        CHECK(allclose(fwd.grads[j], rev.grads[j], tol, tol));
      }
    }
  }
}
