// SPDX-License-Identifier: MIT
// User-defined ops (tg::Function<T>, function.hpp): what docs/autograd.md promises of them.
#include <cmath>
#include <string>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "test_util.hpp"

using tg::Tensor;
using tg::test::MessageContains;

namespace {

std::vector<double> values(const Tensor& t) { return t.tolist(); }

// swish(x) = x sigmoid(x), fused: one tape entry, and d/dx = s + x s (1 - s).
struct Swish : tg::Function<Swish> {
  static constexpr const char* name = "swish";
  static Tensor forward(tg::AutogradContext& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return x * tg::sigmoid(x);
  }
  static std::vector<Tensor> backward(tg::AutogradContext& ctx, const std::vector<Tensor>& grads) {
    Tensor x = ctx.get_saved_variables()[0], s = tg::sigmoid(x);
    return {grads[0] * (s + x * s * (1 - s))};
  }
};

// A variadic op: the weighted sum w[0] t[0] + w[1] t[1] + ... of a list of tensors, the
// weights given as numbers (not tensors: no gradient for them).
struct WeightedSum : tg::Function<WeightedSum> {
  static constexpr const char* name = "weighted_sum";
  static Tensor forward(tg::AutogradContext& ctx, const std::vector<Tensor>& ts, std::vector<double> w) {
    Tensor out = ts[0] * w[0];
    for (std::size_t i = 1; i < ts.size(); ++i) out = out + ts[i] * w[i];
    ctx.saved_data["w"] = w;
    return out;
  }
  static std::vector<Tensor> backward(tg::AutogradContext& ctx, const std::vector<Tensor>& grads) {
    auto w = std::any_cast<std::vector<double>>(ctx.saved_data["w"]);
    std::vector<Tensor> out;
    for (std::size_t i = 0; i < w.size(); ++i) out.push_back(ctx.needs_input_grad(i) ? grads[0] * w[i] : Tensor());
    return out;
  }
};

// Two outputs: (2x, x^2). backward gets one gradient per output, undefined when none arrived.
struct TwoOutputs : tg::Function<TwoOutputs> {
  static constexpr const char* name = "two_outputs";
  static std::vector<Tensor> forward(tg::AutogradContext& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return {x * 2, x * x};
  }
  static std::vector<Tensor> backward(tg::AutogradContext& ctx, const std::vector<Tensor>& grads) {
    Tensor x = ctx.get_saved_variables()[0];
    Tensor g = tg::zeros_like(x);
    if (grads[0].defined()) g = g + grads[0] * 2;
    if (grads[1].defined()) g = g + grads[1] * 2 * x;
    return {g};
  }
};

// The values of x and their argmax-like mask: the mask is not differentiable.
struct WithMask : tg::Function<WithMask> {
  static constexpr const char* name = "with_mask";
  static std::vector<Tensor> forward(tg::AutogradContext& ctx, const Tensor& x) {
    Tensor mask = tg::gt(x, 0);
    ctx.mark_non_differentiable({mask});
    return {x * 1, mask};
  }
  static std::vector<Tensor> backward(tg::AutogradContext&, const std::vector<Tensor>& grads) {
    CHECK(!grads[1].defined());  // no gradient flows into a non-differentiable output
    return {grads[0]};
  }
};

struct TooMany : tg::Function<TooMany> {
  static constexpr const char* name = "too_many";
  static Tensor forward(tg::AutogradContext&, const Tensor& x) { return x * 2; }
  static std::vector<Tensor> backward(tg::AutogradContext&, const std::vector<Tensor>& g) { return {g[0], g[0]}; }
};

struct WrongShape : tg::Function<WrongShape> {
  static constexpr const char* name = "wrong_shape";
  static Tensor forward(tg::AutogradContext&, const Tensor& x) { return x.sum(); }
  static std::vector<Tensor> backward(tg::AutogradContext&, const std::vector<Tensor>& g) { return {g[0]}; }
};

// Without a name, the op is named after its C++ type.
struct Unnamed : tg::Function<Unnamed> {
  static Tensor forward(tg::AutogradContext&, const Tensor& x) { return x * 3; }
  static std::vector<Tensor> backward(tg::AutogradContext&, const std::vector<Tensor>& g) { return {g[0] * 3}; }
};

}  // namespace

TEST_CASE("a user-defined op records one entry and passes gradcheck and adjoint_check", "[function]") {
  Tensor x = Tensor{-2.0, -0.5, 0.0, 1.0, 3.0}.to(tg::kFloat64).requires_grad_();
  std::size_t before = tg::Tape::current().size();
  Tensor y = Swish::apply(x);
  CHECK(tg::Tape::current().size() == before + 1);  // forward ran with grad mode off
  CHECK(tg::test::op_name() == "swish");
  CHECK_THAT(tg::to_string(y), Catch::Contains("grad_fn=<SwishBackward"));
  // Closed form: swish(1) = 1 / (1 + e^-1), swish'(0) = 1/2.
  CHECK(values(y)[3] == Approx(1 / (1 + std::exp(-1.0))));
  y.sum().backward();
  CHECK(values(x.grad())[2] == Approx(0.5));

  auto f = [](const std::vector<Tensor>& v) { return Swish::apply(v[0]).sum(); };
  CHECK(tg::gradcheck(f, {x}).ok);
  CHECK(tg::adjoint_check(f, {x}).ok);
}

TEST_CASE("a user-defined op takes a list of any length and numbers beside it", "[function]") {
  std::vector<Tensor> ts;
  for (int i = 0; i < 7; ++i) ts.push_back(tg::full({2}, i, {.dtype = tg::kFloat64, .requires_grad = i != 3}));
  std::vector<double> w = {1, 2, 3, 4, 5, 6, 7};
  Tensor y = WeightedSum::apply(ts, w);
  CHECK(values(y) == std::vector<double>(2, 0 + 2 + 6 + 12 + 20 + 30 + 42));
  y.sum().backward();
  for (int i = 0; i < 7; ++i) {
    if (i == 3) {
      CHECK(!ts[3].grad().defined());
      continue;
    }
    CHECK(values(ts[static_cast<std::size_t>(i)].grad()) == std::vector<double>(2, w[static_cast<std::size_t>(i)]));
  }
  auto f = [&w](const std::vector<Tensor>& v) { return WeightedSum::apply(v, w).sum(); };
  std::vector<Tensor> inputs(ts.begin(), ts.end());
  inputs.erase(inputs.begin() + 3);
  w.erase(w.begin() + 3);
  CHECK(tg::gradcheck(f, inputs).ok);
}

TEST_CASE("a user-defined op with several outputs gets one gradient per output", "[function]") {
  Tensor x = Tensor{1.0, -2.0}.to(tg::kFloat64).requires_grad_();
  auto both = TwoOutputs::apply(x);
  REQUIRE(both.size() == 2);
  (both[0].sum() + both[1].sum()).backward();
  CHECK(values(x.grad()) == std::vector<double>{2 + 2, 2 - 4});

  // Only the second output used: the first one's gradient arrives undefined.
  x.set_grad(Tensor());
  TwoOutputs::apply(x)[1].sum().backward();
  CHECK(values(x.grad()) == std::vector<double>{2, -4});

  auto f = [](const std::vector<Tensor>& v) {
    auto o = TwoOutputs::apply(v[0]);
    return (o[0] * o[1]).sum();
  };
  CHECK(tg::gradcheck(f, {x}).ok);
}

TEST_CASE("a non-differentiable output carries no history", "[function]") {
  Tensor x = Tensor{1.0, -2.0, 3.0}.requires_grad_();
  auto out = WithMask::apply(x);
  CHECK(out[0].requires_grad());
  CHECK(!out[1].requires_grad());
  CHECK(out[1].dtype() == tg::kBool);
  out[0].sum().backward();
  CHECK(values(x.grad()) == std::vector<double>{1, 1, 1});
}

TEST_CASE("a user-defined op's backward with the wrong count or shape is an error naming it", "[function][errors]") {
  Tensor x = Tensor{1.0, 2.0}.requires_grad_();
  CHECK_THROWS_MATCHES(TooMany::apply(x).sum().backward(), tg::AutogradError, MessageContains({"too_many", "2", "1"}));
  CHECK_THROWS_MATCHES(WrongShape::apply(x).backward(), tg::AutogradError, MessageContains({"wrong_shape", "[2]"}));
}

TEST_CASE("a user-defined op's saved tensors are checked against in-place writes", "[function][version]") {
  Tensor x = Tensor{1.0, 2.0}.requires_grad_();
  Tensor h = x * 1;  // not a leaf
  Tensor y = Swish::apply(h).sum();
  {
    tg::NoGradGuard no_grad;
    h.add_(1);
  }
  CHECK_THROWS_MATCHES(y.backward(), tg::AutogradError,
                       MessageContains({"modified by an inplace operation", "swish", "at version 0"}));
}

TEST_CASE("a user-defined op without inputs that require grad records nothing", "[function]") {
  std::size_t before = tg::Tape::current().size();
  Tensor y = Swish::apply(Tensor{1.0, 2.0});
  CHECK(tg::Tape::current().size() == before);
  CHECK(!y.requires_grad());
  Tensor z;
  {
    tg::NoGradGuard no_grad;
    z = Swish::apply(Tensor{1.0}.requires_grad_());
  }
  CHECK(!z.requires_grad());
  CHECK(tg::Tape::current().size() == before);
}

TEST_CASE("a user-defined op without a name is named after its type", "[function]") {
  Tensor x = Tensor{1.0}.requires_grad_();
  Tensor y = Unnamed::apply(x);
  CHECK_THAT(tg::test::op_name(), Catch::Contains("Unnamed"));
  y.sum().backward();
  CHECK(values(x.grad()) == std::vector<double>{3});
}
