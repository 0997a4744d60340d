// SPDX-License-Identifier: MIT
// clip_grad_norm_ and clip_grad_value_ (optim/clip.hpp), against the numbers PyTorch's
// torch.nn.utils gives for the same gradients.
#include <cmath>
#include <limits>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/optim/clip.hpp"

using tg::Tensor;
using tg::test::MessageContains;

namespace {

// Parameters with the given gradients.
std::vector<Tensor> with_grads(std::initializer_list<std::vector<double>> grads) {
  std::vector<Tensor> params;
  for (const auto& g : grads) {
    Tensor p = tg::zeros({static_cast<std::int64_t>(g.size())}, {.requires_grad = true});
    p.set_grad(tg::from_vector(g, {static_cast<std::int64_t>(g.size())}));
    params.push_back(p);
  }
  return params;
}

}  // namespace

TEST_CASE("clip_grad_norm_ scales all gradients together and returns the norm before clipping", "[optim][clip]") {
  auto params = with_grads({{3, 0}, {0, 4}});  // norm 5
  Tensor norm = tg::clip_grad_norm_(params, 1.0);
  CHECK(norm.item<double>() == Approx(5));
  // scaled by 1 / (5 + 1e-6), as PyTorch
  CHECK(params[0].grad().tolist()[0] == Approx(0.6).epsilon(1e-6));
  CHECK(params[1].grad().tolist()[1] == Approx(0.8).epsilon(1e-6));
  // below the limit nothing changes
  auto small = with_grads({{0.3, 0.4}});
  CHECK(tg::clip_grad_norm_(small, 1.0).item<double>() == Approx(0.5));
  CHECK(small[0].grad().tolist() == std::vector<double>{0.30000001192092896, 0.4000000059604645});
  // other norms; a parameter without a gradient is skipped
  auto mixed = with_grads({{-3, 1}});
  mixed.push_back(tg::zeros({2}, {.requires_grad = true}));
  CHECK(tg::clip_grad_norm_(mixed, 10.0, 1).item<double>() == Approx(4));
  CHECK(tg::clip_grad_norm_(mixed, 10.0, std::numeric_limits<double>::infinity()).item<double>() == Approx(3));
}

TEST_CASE("clip_grad_norm_ with error_if_nonfinite refuses a NaN norm and changes nothing", "[optim][clip]") {
  auto params = with_grads({{std::numeric_limits<double>::quiet_NaN(), 1.0}, {2.0}});
  CHECK_THROWS_MATCHES(tg::clip_grad_norm_(params, 1.0, 2, true), tg::ValueError,
                       MessageContains({"clip_grad_norm_", "nan", "error_if_nonfinite"}));
  CHECK(params[1].grad().tolist() == std::vector<double>{2.0});
  CHECK_THROWS_MATCHES(tg::clip_grad_norm_(params, -1.0), tg::ValueError, MessageContains({"max_norm must be >= 0"}));
}

TEST_CASE("clip_grad_value_ clamps every gradient element", "[optim][clip]") {
  auto params = with_grads({{-3, 0.5, 2}});
  tg::clip_grad_value_(params, 1.0);
  CHECK(params[0].grad().tolist() == std::vector<double>{-1, 0.5, 1});
}
