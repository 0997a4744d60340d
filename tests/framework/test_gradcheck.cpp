// SPDX-License-Identifier: MIT
// gradcheck itself: it must pass correct gradients and catch wrong ones.
#include "test_util.hpp"

using tg::Tensor;

namespace {

// y = 2x, recorded by hand through tg::record with a backward that is `factor` times dy.
// factor 2 is the true derivative; any other factor is a bug that gradcheck must catch.
Tensor doubled(const Tensor& x, double factor) {
  Tensor y = x.detach() * 2.0;  // computed without recording
  static tg::OpInfo info = [] {
    tg::OpInfo op{.name = "doubled"};
    tg::register_op(op);
    return op;
  }();
  if (tg::should_record(x))
    tg::record(info, {x}, y, {}, [factor](tg::BackwardContext& ctx) { ctx.accumulate(0, ctx.grad() * factor); });
  return y;
}

using Inputs = std::vector<Tensor>;

}  // namespace

TEST_CASE("gradcheck passes on correct ops", "[gradcheck]") {
  tg::Generator gen(3);
  Tensor a = tg::randn({2, 3}, gen, {.requires_grad = true});
  Tensor b = tg::rand({3}, gen, {.requires_grad = true});
  tg::GradcheckResult r =
      tg::gradcheck([](const Inputs& x) { return (x[0] * x[1]).exp() + x[0] / (x[1] + 1.0); }, {a, b});
  CHECK(r.ok);
  CHECK(static_cast<bool>(r));
  CHECK(r.message.empty());
  CHECK(r.max_error < 1e-6);

  // A scalar output and a hand-recorded op with the right derivative.
  CHECK(tg::gradcheck([](const Inputs& x) { return doubled(x[0], 2).square().sum(); }, {a}).ok);
}

TEST_CASE("gradcheck fails on a backward that is off by a factor of 2", "[gradcheck]") {
  Tensor a = tg::full({3}, 0.5, {.requires_grad = true});
  Tensor b = tg::full({2}, 1.5, {.requires_grad = true});
  tg::GradcheckResult r =
      tg::gradcheck([](const Inputs& x) { return x[0].sum() * doubled(x[1], 4); }, {a, b});  // x[1]'s grad is 2x
  CHECK(!r.ok);
  CHECK(!static_cast<bool>(r));
  CHECK_THAT(r.message, Catch::Contains("input 1") && Catch::Contains("shape [2]"));
  // d out_j / d b_j = 2 sum(a) = 3; the wrong backward says 6, so the error is 3.
  CHECK(r.max_error == Approx(3).epsilon(1e-6));
  // The right factor passes, so it was the factor that failed.
  CHECK(tg::gradcheck([](const Inputs& x) { return x[0].sum() * doubled(x[1], 2); }, {a, b}).ok);
}

TEST_CASE("gradcheck checks only the inputs that require grad", "[gradcheck]") {
  Tensor a = tg::full({2}, 0.5, {.requires_grad = true});
  Tensor c = tg::full({2}, 1.5);  // a constant: its (wrong) gradient is never asked for
  auto f = [](const Inputs& x) { return x[0] * doubled(x[1], 4); };
  CHECK(tg::gradcheck(f, {a, c}).ok);
  // With no input requiring grad, every input is checked, and the wrong one is found.
  tg::GradcheckResult all = tg::gradcheck(f, {a.detach(), c});
  CHECK(!all.ok);
  CHECK_THAT(all.message, Catch::Contains("input 1"));
  // gradcheck works on copies: the caller's tensors keep their data and get no gradient.
  CHECK(!a.grad().defined());
  CHECK(a.tolist() == std::vector<double>{0.5, 0.5});
}

TEST_CASE("gradcheck runs in float64 even for float32 inputs", "[gradcheck]") {
  std::vector<tg::Dtype> seen;
  auto f = [&seen](const Inputs& x) {
    seen.push_back(x[0].dtype());
    return (x[0] * x[0] * x[0]).sum();
  };
  Tensor a = Tensor{0.3, -1.7, 2.9}.requires_grad_();
  REQUIRE(a.dtype() == tg::kFloat32);
  tg::GradcheckResult r = tg::gradcheck(f, {a});
  CHECK(r.ok);
  // With eps = 1e-6, float32 differences (spacing 1.2e-7 near 1) would be off by ~10%.
  CHECK(r.max_error < 1e-6);
  REQUIRE(!seen.empty());
  CHECK(std::all_of(seen.begin(), seen.end(), [](tg::Dtype d) { return d == tg::kFloat64; }));
}

TEST_CASE("gradcheck reports an output that does not depend on the inputs", "[gradcheck]") {
  Tensor a = tg::ones({2}, {.requires_grad = true});
  tg::GradcheckResult r = tg::gradcheck([](const Inputs&) { return tg::ones({2}); }, {a});
  CHECK(!r.ok);
  CHECK_THAT(r.message, Catch::Contains("does not require grad"));
}
