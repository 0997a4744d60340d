// SPDX-License-Identifier: MIT
// adjoint_check: the dot-product test passes a graph of many ops and every op that records a
// tape entry, names the op whose backward is wrong, copes with what f discards, and rejects
// what it cannot test.
#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "test_util.hpp"

using tg::Tensor;

namespace {

using Inputs = std::vector<Tensor>;
using tg::test::away_from_zero;
using tg::test::MessageContains;
using tg::test::uniform;

Tensor leaf(Tensor t) { return t.requires_grad_(); }

// y = 2x, recorded by hand, whose backward gives `factor` dy: 2 is right, 4 is twice the
// right gradient.
Tensor doubled(const Tensor& x, double factor) {
  Tensor y = x.detach() * 2.0;
  static tg::OpInfo info = [] {
    tg::OpInfo op{.name = "doubled"};
    tg::register_op(op);
    return op;
  }();
  if (tg::should_record(x))
    tg::record(info, {x}, y, {}, [factor](tg::BackwardContext& ctx) { ctx.accumulate(0, ctx.grad() * factor); });
  return y;
}

// The names of the ops that the report tested (not skipped), in order.
std::vector<std::string> tested_ops(const tg::AdjointCheckReport& r) {
  std::vector<std::string> names;
  for (const tg::AdjointCheckOp& op : r.ops)
    if (op.skipped.empty()) names.push_back(op.op);
  return names;
}

// LeNet's shape in small: conv2d, sigmoid, avg_pool2d, flatten, linear, cross_entropy.
struct SmallNet {
  tg::Generator gen{5};
  Tensor x = uniform({2, 1, 8, 8}, gen, -1, 1);
  Tensor w = leaf(uniform({3, 1, 3, 3}, gen, -1, 1));
  Tensor b = leaf(uniform({3}, gen, -1, 1));
  Tensor W = leaf(uniform({48, 5}, gen, -0.5, 0.5));
  Tensor c = leaf(uniform({5}, gen, -1, 1));
  static Tensor f(const Inputs& v) {
    Tensor h = tg::sigmoid(tg::conv2d(v[0], v[1], v[2], {.padding = {1, 1}}));  // [2, 3, 8, 8]
    h = tg::flatten(tg::avg_pool2d(h));                                         // [2, 48]
    std::vector<std::int64_t> targets{1, 4};
    return tg::cross_entropy(tg::matmul(h, v[3]) + v[4], targets);
  }
};

}  // namespace

TEST_CASE("adjoint_check passes a graph of conv2d, sigmoid, avg_pool2d, matmul and cross_entropy", "[adjoint_check]") {
  SmallNet net;
  tg::AdjointCheckReport r = tg::adjoint_check(SmallNet::f, {net.x, net.w, net.b, net.W, net.c});
  INFO(tg::to_string(r));
  CHECK(r.ok);
  CHECK(static_cast<bool>(r));
  CHECK(r.message.empty());
  CHECK(tested_ops(r) ==
        std::vector<std::string>{"conv2d", "sigmoid", "avg_pool2d", "reshape", "matmul", "add", "cross_entropy"});
  REQUIRE(r.ops.size() == 7);
  for (std::size_t k = 0; k < r.ops.size(); ++k) {
    CHECK(r.ops[k].entry == k);
    CHECK(r.ops[k].test.passed);
    // Both sides are nonzero and agree to far better than the tolerance.
    CHECK(std::abs(r.ops[k].test.forward) > 1e-6);
    CHECK(r.ops[k].test.backward == Approx(r.ops[k].test.forward).epsilon(1e-7));
    CHECK(r.ops[k].test.error < 1e-8);
  }
  REQUIRE(r.worst >= 0);
  for (const tg::AdjointCheckOp& op : r.ops)
    CHECK(op.test.error <= r.ops[static_cast<std::size_t>(r.worst)].test.error);
  CHECK(r.whole.passed);
  CHECK(std::abs(r.whole.forward) > 1e-6);
  CHECK(r.whole.backward == Approx(r.whole.forward).epsilon(1e-7));
  // x needs no gradient, so it was not perturbed; the ones that were keep their data and get
  // no gradient: the check ran on copies.
  for (const Tensor& t : {net.w, net.b, net.W, net.c}) CHECK(!t.grad().defined());
  CHECK(!net.x.grad().defined());
}

TEST_CASE("adjoint_check: the whole-function test is the same with and without the per-op test", "[adjoint_check]") {
  SmallNet net;
  Inputs inputs{net.x, net.w, net.b, net.W, net.c};
  tg::AdjointCheckReport with_ops = tg::adjoint_check(SmallNet::f, inputs);
  tg::AdjointCheckReport whole_only = tg::adjoint_check(SmallNet::f, inputs, {.per_op = false});
  CHECK(whole_only.ok);
  CHECK(whole_only.ops.empty());
  CHECK(whole_only.worst == -1);
  CHECK(whole_only.whole.forward == with_ops.whole.forward);
  CHECK(whole_only.whole.backward == with_ops.whole.backward);
  // Another seed draws other directions: other values, still a pass.
  tg::AdjointCheckReport other = tg::adjoint_check(SmallNet::f, inputs, {.seed = 1});
  CHECK(other.ok);
  CHECK(other.whole.forward != with_ops.whole.forward);
}

TEST_CASE("adjoint_check names the op whose backward is twice the right gradient", "[adjoint_check]") {
  tg::Generator gen(2);
  Tensor a = leaf(uniform({3, 4}, gen, -1, 1)), b = leaf(uniform({4}, gen, -1, 1));
  auto f = [](const Inputs& v) { return (doubled(tg::tanh(v[0]), 4) * v[1]).sum(); };
  tg::AdjointCheckReport r = tg::adjoint_check(f, {a, b});
  INFO(tg::to_string(r));
  CHECK(!r.ok);
  CHECK(!static_cast<bool>(r));
  REQUIRE(tested_ops(r) == std::vector<std::string>{"tanh", "doubled", "mul", "sum"});
  REQUIRE(r.worst == 1);
  const tg::AdjointCheckOp& worst = r.ops[1];
  CHECK(worst.op == "doubled");
  CHECK(!worst.test.passed);
  // The closure gives 4 dy where 2 dy is right, so its side of the test is twice the other.
  CHECK(worst.test.backward == Approx(2 * worst.test.forward).epsilon(1e-7));
  CHECK(worst.test.error > 0.01);
  // The ops around it pass on their own; f as a whole fails through it.
  CHECK(r.ops[0].test.passed);
  CHECK(r.ops[2].test.passed);
  CHECK(r.ops[3].test.passed);
  CHECK(!r.whole.passed);
  CHECK_THAT(r.message, Catch::Contains("the backward of doubled (entry 1 ") && Catch::Contains("rtol 1e-06") &&
                            Catch::Contains(fmt::format("{}", worst.test.forward)) &&
                            Catch::Contains(fmt::format("{}", worst.test.backward)));
  // The printed table marks it.
  std::string table = tg::to_string(r);
  CHECK_THAT(table, Catch::StartsWith("adjoint_check: FAILED (rtol 1e-06): f and 4 ops tested, 0 skipped"));
  CHECK_THAT(table, Catch::Contains("doubled") && Catch::Contains("FAILED  <- worst"));

  // throw_on_failure throws the same message; with the right factor the same graph passes.
  CHECK_THROWS_MATCHES(tg::adjoint_check(f, {a, b}, {.throw_on_failure = true}), tg::AutogradError,
                       MessageContains({r.message}));
  auto right = [](const Inputs& v) { return (doubled(tg::tanh(v[0]), 2) * v[1]).sum(); };
  CHECK(tg::adjoint_check(right, {a, b}, {.throw_on_failure = true}).ok);
}

TEST_CASE("adjoint_check: a gradient cut by detach() fails f as a whole while every op passes", "[adjoint_check]") {
  tg::Generator gen(4);
  Tensor x = leaf(uniform({5}, gen, 0.5, 1.5));
  // d(x * x)/dx = 2x, but the gradient only flows through the first factor.
  tg::AdjointCheckReport r = tg::adjoint_check([](const Inputs& v) { return (v[0] * v[0].detach()).sum(); }, {x});
  INFO(tg::to_string(r));
  CHECK(!r.ok);
  CHECK(!r.whole.passed);
  CHECK(r.whole.forward == Approx(2 * r.whole.backward).epsilon(1e-7));
  REQUIRE(r.ops.size() == 2);
  CHECK_THAT(r.ops[0].skipped, Catch::Contains("input 1 is a constant that changes with f's inputs"));
  CHECK(r.ops[1].op == "sum");
  CHECK(r.ops[1].test.passed);
  CHECK(r.worst == 1);
  CHECK_THAT(r.message,
             Catch::Contains("f fails the dot-product test") && Catch::Contains("Every op tested on its own passed"));
}

TEST_CASE("adjoint_check skips what f discards and what its result does not use", "[adjoint_check]") {
  tg::Generator gen(6);
  Tensor x = leaf(uniform({2, 3}, gen, -1, 1));
  std::vector<Tensor> kept;
  auto f = [&kept](const Inputs& v) {
    Tensor dropped = tg::exp(v[0]);  // freed when f returns
    kept.push_back(tg::tanh(v[0]));  // alive, but the result does not depend on it
    return tg::square(v[0]).sum();
  };
  tg::AdjointCheckReport r = tg::adjoint_check(f, {x});
  INFO(tg::to_string(r));
  CHECK(r.ok);
  REQUIRE(r.ops.size() == 4);
  CHECK(r.ops[0].op == "exp");
  CHECK(r.ops[0].skipped == "output freed: f did not keep it");
  CHECK(r.ops[1].op == "tanh");
  CHECK(r.ops[1].skipped == "not used by f's result");
  CHECK(tested_ops(r) == std::vector<std::string>{"square", "sum"});
  CHECK(r.worst >= 2);
  std::string table = tg::to_string(r);
  CHECK_THAT(table, Catch::StartsWith("adjoint_check: passed (rtol 1e-06): f and 2 ops tested, 2 skipped"));
  CHECK_THAT(table, Catch::Contains("skipped: output freed") && Catch::Contains("skipped: not used by f's result"));
}

TEST_CASE("adjoint_check lines the runs up even when the tape prunes between them", "[adjoint_check]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  tg::Generator gen(8);
  Tensor x = leaf(uniform({4}, gen, -1, 1));
  // Results thrown away leave dead entries; the tape drops them once it holds 1024 entries,
  // which happens during the first of the three runs here: that run loses dead entries of
  // its own that the other two keep.
  for (int i = 0; i < 1000; ++i) (void)(x * 2.0);
  REQUIRE(tape.size() == 1000);
  auto f = [](const Inputs& v) {
    Tensor h = v[0];
    for (int i = 0; i < 10; ++i) {
      Tensor dropped = tg::exp(h);  // dead as soon as the loop turns
      h = tg::tanh(h) * 1.5;
    }
    return h.sum();
  };
  tg::AdjointCheckReport r = tg::adjoint_check(f, {x});
  INFO(tg::to_string(r));
  CHECK(tape.size() < 1000);  // the tape did prune
  CHECK(r.ok);
  CHECK(tested_ops(r).size() == 21);  // ten tanh, ten mul, one sum
  tape.clear();
}

TEST_CASE("adjoint_check restores the gradients of leaves that f captures", "[adjoint_check]") {
  tg::Generator gen(9);
  Tensor x = leaf(uniform({3, 4}, gen, -1, 1));
  Tensor weight = leaf(uniform({4, 2}, gen, -1, 1));  // a parameter, not an input of the check
  Tensor bias = leaf(uniform({2}, gen, -1, 1));
  bias.set_grad(tg::full({2}, 7.0, {.dtype = tg::kFloat64}));
  Tensor bias_grad = bias.grad();
  auto f = [&](const Inputs& v) { return tg::sigmoid(tg::matmul(v[0], weight) + bias); };
  tg::AdjointCheckReport r = tg::adjoint_check(f, {x});
  CHECK(r.ok);
  CHECK(tested_ops(r) == std::vector<std::string>{"matmul", "add", "sigmoid"});
  CHECK(!weight.grad().defined());
  REQUIRE(bias.grad().defined());
  CHECK(bias.grad().impl_ptr() == bias_grad.impl_ptr());  // the same tensor, with its old values
  CHECK(bias.grad().tolist() == std::vector<double>{7, 7});
  CHECK(!x.grad().defined());
}

namespace {

// A user-defined op that takes float32 only (as a hand-written SIMD kernel might).
struct Float32Only : tg::Function<Float32Only> {
  static constexpr const char* name = "float32_only";
  static Tensor forward(tg::AutogradContext&, const Tensor& x) {
    if (x.dtype() != tg::kFloat32)
      throw tg::DtypeError("float32_only: takes float32 only, got " + std::string(tg::dtype_name(x.dtype())));
    return x * 2;
  }
  static std::vector<Tensor> backward(tg::AutogradContext&, const std::vector<Tensor>& g) { return {g[0] * 2}; }
};

}  // namespace

TEST_CASE("adjoint_check converts float32 inputs and says so", "[adjoint_check]") {
  auto square_sum = [](const Inputs& v) { return tg::square(v[0]).sum(); };
  Tensor x32 = Tensor{1, 2, 3}.requires_grad_();
  tg::AdjointCheckReport r = tg::adjoint_check(square_sum, {x32});
  CHECK(r.ok);
  REQUIRE(r.notes.size() == 1);
  CHECK(r.notes[0] == "input 0 [3] converted from float32 to float64 for central differences");
  CHECK_THAT(tg::to_string(r), Catch::Contains("note: input 0 [3] converted from float32 to float64"));
  CHECK(x32.dtype() == tg::kFloat32);  // the caller's tensor is left alone
  // With no input requiring grad, every floating one is tested, and converted.
  CHECK(tg::adjoint_check(square_sum, {Tensor{1, 2}}).notes.size() == 1);
  // An op that takes float32 only: the message names the conversion.
  CHECK_THROWS_MATCHES(tg::adjoint_check([](const Inputs& v) { return Float32Only::apply(v[0]); }, {x32}),
                       tg::DtypeError,
                       MessageContains({"float32_only: takes float32 only, got float64",
                                        "input 0 [3] converted from float32 to float64"}));
}

TEST_CASE("adjoint_check rejects bad options and functions it cannot test", "[adjoint_check]") {
  auto square_sum = [](const Inputs& v) { return tg::square(v[0]).sum(); };

  Tensor x = tg::full({3}, 0.5, {.dtype = tg::kFloat64, .requires_grad = true});
  CHECK_THROWS_MATCHES(tg::adjoint_check(square_sum, {x}, {.eps = 0}), tg::ValueError,
                       MessageContains({"eps must be a positive finite step, got 0"}));
  CHECK_THROWS_MATCHES(tg::adjoint_check(square_sum, {x}, {.eps = std::nan("")}), tg::ValueError,
                       MessageContains({"eps must be a positive finite step, got nan"}));
  CHECK_THROWS_MATCHES(tg::adjoint_check(square_sum, {x}, {.rtol = -1}), tg::ValueError,
                       MessageContains({"rtol must be positive and finite, got -1"}));
  CHECK_THROWS_MATCHES(tg::adjoint_check(nullptr, {x}), tg::ValueError, MessageContains({"f is empty"}));
  CHECK_THROWS_MATCHES(tg::adjoint_check(square_sum, {}), tg::ValueError, MessageContains({"no inputs"}));
  CHECK_THROWS_MATCHES(tg::adjoint_check(square_sum, {Tensor()}), tg::ValueError,
                       MessageContains({"input 0 is undefined"}));

  // An output that does not depend on the inputs.
  CHECK_THROWS_MATCHES(tg::adjoint_check([](const Inputs&) { return tg::ones({2}); }, {x}), tg::AutogradError,
                       MessageContains({"f's output does not require grad"}));
  // Control flow on values: at x[0] = 0.5 one perturbed run takes the other branch.
  auto branchy = [](const Inputs& v) { return v[0].tolist()[0] > 0.5 ? tg::exp(v[0]).sum() : tg::sum(v[0]); };
  CHECK_THROWS_MATCHES(tg::adjoint_check(branchy, {x}), tg::ValueError,
                       MessageContains({"graph of 1 op(s) at x but of 2 at x ", "per_op = false"}));
  // A random op drawing from a generator that f does not seed: each run drops other elements.
  tg::Generator shared(3);
  auto unseeded = [&shared](const Inputs& v) { return tg::dropout(v[0], 0.5, true, shared).sum(); };
  Tensor wide = tg::full({64}, 0.5, {.dtype = tg::kFloat64, .requires_grad = true});
  CHECK(!tg::adjoint_check(unseeded, {wide}).ok);
}
