// SPDX-License-Identifier: MIT
#pragma once
// adjoint_check: the dot-product test of backward against forward. For a function y = f(x)
// with Jacobian J, random directions v (shaped like the inputs) and u (shaped like y) must
// satisfy
//   <J v, u> == <v, J^T u>
// where J v comes from central differences of f along v and J^T u from backward() seeded
// with u. It tests f as a whole and, from the tape that f records, every op on its own:
// entry k's backward closure (Tape::entry_backward) against the change of its output.
//
//   tg::AdjointCheckReport r = tg::adjoint_check(f, {x, w});
//   fmt::print("{}", tg::to_string(r));  // one row per op, the worst marked
//
// Where gradcheck builds whole Jacobians (one evaluation of f per input element and one
// backward() per output element), this costs three evaluations of f and one backward()
// whatever the sizes, and it names the op whose backward is wrong. It tests one random
// pair of directions, not every element: an error confined to a few elements of a large
// tensor shows up scaled down by their share of the inner products, so gradcheck on small
// shapes remains the finer test of a single op.
//
// Limits: central differences in double precision have a truncation error ~ eps^2 |f'''|
// and a rounding error ~ 1e-16 |f| / eps, so the two sides agree to about 1e-10 relative
// (at most 7e-11 over the ops in the tests), not exactly. At points where an op is not
// differentiable (relu at 0, a max_pool2d window with two equal maxima) the two sides
// disagree: pick inputs away from such kinks. An op whose output is float32 (after
// .to(kFloat32)) has a difference quotient only as good as float32 rounding allows: give
// it a larger eps and rtol (eps 1e-2 and rtol 1e-5 pass to(kFloat32)).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

struct AdjointCheckOptions {
  double eps = 1e-6;              // central-difference step along v
  double rtol = 1e-6;             // a test passes if its error (see AdjointTest) is at most rtol
  std::uint64_t seed = 0;         // of the tg::Generator that draws v and every u
  bool per_op = true;             // also test each op that f records, not only f as a whole
  bool throw_on_failure = false;  // throw AutogradError with the report's message on failure
};

// One dot-product test. `forward` is <J v, u>, with J v from central differences; `backward`
// is <v, J^T u>, with J^T u from backward closures. The error is relative to the largest
// value the two could take by the Cauchy-Schwarz inequality,
//   error = |forward - backward| / (|J v| |u| + sum_i |v_i| |J_i^T u|)
// so that it does not blow up when random directions make both inner products small.
struct AdjointTest {
  double forward = 0;
  double backward = 0;
  double error = 0;
  bool passed = true;
};

// The test of one tape entry that f recorded. `entry` counts the entries f recorded, from
// 0 (the numbers Tape's printout shows when the tape was empty before f ran).
struct AdjointCheckOp {
  std::size_t entry = 0;
  std::string op;
  AdjointTest test;
  // Why the entry was not tested ("" when it was): f dropped its output, f's result does
  // not use it, or one of its inputs is a constant that changes with f's inputs.
  std::string skipped;
};

struct AdjointCheckReport {
  bool ok = true;  // the whole function and every op tested passed
  double rtol = 0;
  AdjointTest whole;                // f as a whole: backward() against central differences of f
  std::vector<AdjointCheckOp> ops;  // in the order f recorded them (empty without per_op)
  std::int64_t worst = -1;          // index in `ops` of the tested op with the largest error; -1: none
  std::string message;              // on failure: the worst op (or f), both values and rtol
  std::vector<std::string> notes;   // what was done to the inputs ("input 0 [2, 3] converted from float32 ...")
  explicit operator bool() const { return ok; }
};

// f maps the inputs to one tensor of any shape, and must compute the same ops for nearby
// inputs (no control flow on values; a random op such as dropout draws from a generator
// that f seeds itself). The inputs that require grad are perturbed and tested (all the
// floating ones when none does), in float64: a float32 input is converted, and the report's
// notes say so (an op that takes float32 only then fails with a message naming the
// conversion). Others are passed as they are (targets, class indices). f runs on copies: the
// inputs keep their data and get no gradient, and leaves that f captures keep the gradient
// they had. Options go by const reference, as conv2d's do (see the note in ops/conv2d.hpp).
AdjointCheckReport adjoint_check(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                 const std::vector<Tensor>& inputs, const AdjointCheckOptions& options = {});

// A table: one row per op (entry, op, both inner products, error, and "worst" or the reason
// it was skipped), then f as a whole, under a line saying whether the check passed.
std::string to_string(const AdjointCheckReport& report);

}  // namespace tg
