// SPDX-License-Identifier: MIT
#pragma once
// gradcheck: compares the gradients that backward() computes with central finite
// differences, in double precision, as torch.autograd.gradcheck does.
#include <functional>
#include <string>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

struct GradcheckOptions {
  double eps = 1e-6;   // finite-difference step
  double atol = 1e-5;  // an entry passes if |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-3;
};

struct GradcheckResult {
  bool ok = true;
  double max_error = 0;            // largest |analytic - numeric| over all Jacobian entries
  std::string message;             // on failure: which input, which entry, both values
  std::vector<std::string> notes;  // what was done to the inputs ("input 0 [2, 3] converted from float32 ...")
  explicit operator bool() const { return ok; }
};

// f maps the inputs to one tensor of any shape. Every floating input is copied to float64
// (the result's notes say which were float32; an op that takes float32 only then fails with a
// message naming the conversion) and, if it requires grad (all the floating ones when none
// does), both Jacobians are built; other inputs (class indices) are passed as they are:
//   numeric  J[i, j] = (f(x + eps e_j)_i - f(x - eps e_j)_i) / (2 eps)
//   analytic J[i, :] = the gradient that backward() gives for the seed e_i
// and compared entry by entry.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                          GradcheckOptions options = {});

}  // namespace tg

namespace tg {

// gradgradcheck: second derivatives against finite differences of first derivatives, as
// torch.autograd.gradgradcheck. The first derivatives of f, seeded by a random gradient v of
// f's output shape (fixed seed), are computed with create_graph and checked by gradcheck as
// a function of the inputs and of v:
//   F(inputs, v) = [ v^T df/dinput_k for each checked input k ], flattened and joined
// so the analytic side differentiates the recorded backward (double backward), and the
// numeric side takes central differences of first-order gradients.
GradcheckResult gradgradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                              const std::vector<Tensor>& inputs, GradcheckOptions options = {});

}  // namespace tg
