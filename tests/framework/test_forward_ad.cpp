// SPDX-License-Identifier: MIT
// Forward mode: dual levels, make_dual / unpack_dual, the functional API (jvp, jacobian, hvp
// forward over reverse), user-defined ops, and forward over / under reverse, against closed
// forms and PyTorch's values. The sweep of every registry op's JVP rule is in
// test_jvp_registry.cpp.
#include "test_util.hpp"

using tg::Tensor;
using tg::test::allclose;

// The exception's type, and what its message says.
#define CHECK_THROWS_TYPE_WITH(expr, type, matcher) \
  do {                                              \
    CHECK_THROWS_AS(expr, type);                    \
    CHECK_THROWS_WITH(expr, matcher);               \
  } while (false)

namespace {

Tensor f64(std::initializer_list<tg::NestedList> values) { return tg::tensor(values, {.dtype = tg::kFloat64}); }

// The seed's loss as a function of theta = (K[0, 0], K[0, 1], b), and its residual.
struct Seed {
  Tensor X = tg::test::edge_image().to(tg::kFloat64);
  Tensor Y = tg::corr2d(X, f64({{1.0, -1.0}}));
  Tensor loss(const Tensor& theta) const {
    Tensor K = tg::narrow(theta, 0, 0, 2).reshape({1, 2});
    return (tg::corr2d(X, K) + tg::select(theta, 0, 2) - Y).square().sum();
  }
};

Tensor load(const std::string& name) { return tg::load_npy(tg::test::fixture("torch/forward_mode/" + name + ".npy")); }

// A user-defined op with a JVP.
struct Cube : tg::Function<Cube> {
  static constexpr const char* name = "cube";
  static Tensor forward(tg::AutogradContext& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return x * x * x;
  }
  static std::vector<Tensor> backward(tg::AutogradContext& ctx, const std::vector<Tensor>& grads) {
    Tensor x = ctx.get_saved_variables()[0];
    return {grads[0] * 3 * x * x};
  }
  static std::vector<Tensor> jvp(tg::AutogradContext& ctx, const std::vector<Tensor>& tangents) {
    Tensor x = ctx.get_saved_variables()[0];
    return {tangents[0] * 3 * x * x};
  }
};

// The same op without one.
struct CubeNoJvp : tg::Function<CubeNoJvp> {
  static constexpr const char* name = "cube_no_jvp";
  static Tensor forward(tg::AutogradContext& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return x * x * x;
  }
  static std::vector<Tensor> backward(tg::AutogradContext& ctx, const std::vector<Tensor>& grads) {
    Tensor x = ctx.get_saved_variables()[0];
    return {grads[0] * 3 * x * x};
  }
};

}  // namespace

TEST_CASE("make_dual carries a tangent through ops; unpack_dual reads it", "[forward_ad]") {
  Tensor x0 = f64({1.0, 2.0, 3.0}), v = f64({1.0, 0.0, -1.0});
  tg::DualLevel level;
  Tensor x = tg::make_dual(x0, v);
  CHECK(x.data<double>() == x0.data<double>());        // a view: the same data
  CHECK_FALSE(tg::unpack_dual(x0).tangent.defined());  // the primal passed in is untouched
  Tensor y = tg::exp(x) * x;                           // y' = (exp(x) x + exp(x)) v
  tg::UnpackedDual d = tg::unpack_dual(y);
  CHECK(allclose(d.primal, tg::exp(x0) * x0));
  CHECK(allclose(d.tangent, (tg::exp(x0) * x0 + tg::exp(x0)) * v));
  CHECK_FALSE(tg::unpack_dual(d.primal).tangent.defined());  // the primal comes back without it
}

TEST_CASE("a dual level drops its tangents when it ends and does not nest", "[forward_ad]") {
  Tensor x0 = f64({1.0, 2.0});
  Tensor y;
  {
    tg::DualLevel level;
    CHECK(tg::DualLevel::current() != 0);
    y = tg::make_dual(x0, f64({1.0, 1.0})) * 2;
    CHECK(tg::unpack_dual(y).tangent.defined());
    CHECK_THROWS_TYPE_WITH(tg::DualLevel(), tg::AutogradError, Catch::Contains("nested"));
  }
  CHECK(tg::DualLevel::current() == 0);
  tg::DualLevel again;
  CHECK_FALSE(tg::unpack_dual(y).tangent.defined());
  CHECK(allclose(y, f64({2.0, 4.0})));
}

TEST_CASE("make_dual refuses what cannot carry a tangent, naming the fix", "[forward_ad][bad_input]") {
  Tensor x = f64({1.0, 2.0});
  CHECK_THROWS_TYPE_WITH(tg::make_dual(x, x), tg::AutogradError, Catch::Contains("tg::DualLevel"));
  tg::DualLevel level;
  CHECK_THROWS_TYPE_WITH(tg::make_dual(x, f64({1.0, 2.0, 3.0})), tg::ShapeError,
                         Catch::Contains("make_dual") && Catch::Contains("[3]") && Catch::Contains("[2]"));
  CHECK_THROWS_TYPE_WITH(tg::make_dual(x, x.to(tg::kFloat32)), tg::DtypeError,
                         Catch::Contains("make_dual") && Catch::Contains(".to(float64)"));
  CHECK_THROWS_TYPE_WITH(tg::make_dual(tg::arange(3.0, {.dtype = tg::kInt64}), f64({1.0, 2.0, 3.0})), tg::DtypeError,
                         Catch::Contains("int64"));
  CHECK_THROWS_TYPE_WITH(tg::make_dual(Tensor(), x), tg::ValueError, Catch::Contains("undefined primal"));
  CHECK_THROWS_TYPE_WITH(tg::jvp([](const std::vector<Tensor>& v) { return v[0]; }, {x}, {x}), tg::AutogradError,
                         Catch::Contains("jvp") && Catch::Contains("outside"));
}

TEST_CASE("the seed loss's JVP along a direction of (K, b): forward, reverse and closed form agree", "[forward_ad]") {
  Seed seed;
  Tensor theta = f64({0.3, -0.7, 0.2}), v = f64({1.0, 0.5, -0.25});
  auto f = [&](const std::vector<Tensor>& t) { return seed.loss(t[0]); };
  tg::JvpResult fwd = tg::jvp(f, {theta}, {v});
  tg::JvpResult rev = tg::jvp(f, {theta}, {v}, {.mode = tg::AdMode::Reverse});
  // Closed form: L = sum(r^2), r = corr2d(X, K) + b - Y, so L' = 2 sum(r (corr2d(X, K') + b')).
  Tensor K = tg::narrow(theta, 0, 0, 2).reshape({1, 2}), dK = tg::narrow(v, 0, 0, 2).reshape({1, 2});
  Tensor r = tg::corr2d(seed.X, K) + 0.2 - seed.Y;
  double closed = (2 * r * (tg::corr2d(seed.X, dK) - 0.25)).sum().item<double>();
  CHECK(fwd.jvp.item<double>() == Approx(closed).epsilon(1e-12));
  CHECK(rev.jvp.item<double>() == Approx(closed).epsilon(1e-12));
  CHECK(fwd.output.item<double>() == Approx(seed.loss(theta).item<double>()));
  // Reverse mode's way for a scalar: the gradient dotted with v.
  double via_grad = (tg::vjp(f, {theta}).grads[0] * v).sum().item<double>();
  CHECK(fwd.jvp.item<double>() == Approx(via_grad).epsilon(1e-12));
  CHECK_FALSE(fwd.jvp.requires_grad());
}

TEST_CASE("the seed loss's JVP matches PyTorch's forward_ad", "[torch][forward_ad]") {
  Seed seed32;
  Tensor X = tg::test::edge_image(), Y = tg::corr2d(X, Tensor{{1.0F, -1.0F}});
  auto f = [&](const std::vector<Tensor>& t) {
    Tensor K = tg::narrow(t[0], 0, 0, 2).reshape({1, 2});
    return (tg::corr2d(X, K) + tg::select(t[0], 0, 2) - Y).square().sum();
  };
  tg::JvpResult r = tg::jvp(f, {load("seed_theta")}, {load("seed_direction")});
  CHECK(allclose(r.output, load("seed_loss").reshape({}), 1e-4, 1e-5));
  CHECK(allclose(r.jvp, load("seed_jvp").reshape({}), 1e-4, 1e-5));
}

TEST_CASE("a JVP through conv2d, tanh, avg_pool2d, linear and log_softmax matches PyTorch's", "[torch][forward_ad]") {
  const std::vector<std::string> names = {"x", "w1", "b1", "w2", "b2"};
  std::vector<Tensor> values, tangents;
  for (const std::string& n : names) {
    values.push_back(load("jvp_" + n));
    tangents.push_back(load("jvp_t_" + n));
  }
  auto f = [](const std::vector<Tensor>& p) {
    Tensor h = tg::avg_pool2d(tg::tanh(tg::conv2d(p[0], p[1], p[2], {.padding = 1})), {.kernel_size = 2});
    return tg::log_softmax(tg::matmul(h.reshape({2, 27}), tg::transpose(p[3], 0, 1)) + p[4], 1);
  };
  tg::JvpResult r = tg::jvp(f, values, tangents);
  INFO("tapegrad: " << tg::to_string(r.jvp) << "\ntorch:    " << tg::to_string(load("jvp_jvp")));
  CHECK(allclose(r.output, load("jvp_out"), 1e-4, 1e-5));
  CHECK(allclose(r.jvp, load("jvp_jvp"), 1e-4, 1e-5));
  // And reverse mode's double-vjp trick gives the same.
  tg::JvpResult rev = tg::jvp(f, values, tangents, {.mode = tg::AdMode::Reverse});
  CHECK(allclose(rev.jvp, load("jvp_jvp"), 1e-4, 1e-5));
}

TEST_CASE("jacobian: forward and reverse mode give the same matrix, and Auto picks by shape", "[forward_ad]") {
  Tensor A = f64({{1.0, 2.0, 0.5}, {-1.0, 0.0, 3.0}}), x = f64({0.2, -0.4, 0.9});
  auto f = [&](const Tensor& t) { return tg::tanh(tg::matmul(A, t)); };
  Tensor fwd = tg::jacobian(f, x, {.mode = tg::AdMode::Forward});
  Tensor rev = tg::jacobian(f, x, {.mode = tg::AdMode::Reverse});
  Tensor autom = tg::jacobian(f, x);
  // Closed form: diag(1 - tanh(A x)^2) A.
  Tensor s = 1 - tg::tanh(tg::matmul(A, x)).square();
  Tensor closed = s.reshape({2, 1}) * A;
  CHECK(fwd.shape() == tg::Shape{2, 3});
  CHECK(allclose(fwd, closed, 1e-12, 1e-14));
  CHECK(allclose(rev, closed, 1e-12, 1e-14));
  CHECK(allclose(autom, closed, 1e-12, 1e-14));
  // Several inputs: blocks of shape output + input.
  std::vector<Tensor> J = tg::jacobian([](const std::vector<Tensor>& v) { return v[0] * v[1]; },
                                       {f64({1.0, 2.0}), f64({3.0, 4.0})}, {.mode = tg::AdMode::Forward});
  CHECK(allclose(J[0], f64({{3.0, 0.0}, {0.0, 4.0}})));
  CHECK(allclose(J[1], f64({{1.0, 0.0}, {0.0, 2.0}})));
}

TEST_CASE("hvp forward over reverse equals reverse over reverse and the Hessian's product", "[forward_ad][hvp]") {
  tg::Generator gen(5);
  Tensor x = tg::randn({2, 1, 6, 6}, gen, {.dtype = tg::kFloat64});
  const std::vector<std::int64_t> labels = {1, 0};
  Tensor targets = tg::from_vector(labels, {2});
  std::vector<Tensor> params = {tg::randn({2, 1, 3, 3}, gen, {.dtype = tg::kFloat64}) * 0.5,
                                tg::randn({2}, gen, {.dtype = tg::kFloat64}) * 0.1,
                                tg::randn({3, 8}, gen, {.dtype = tg::kFloat64}) * 0.3};
  std::vector<Tensor> v = {tg::randn({2, 1, 3, 3}, gen, {.dtype = tg::kFloat64}),
                           tg::randn({2}, gen, {.dtype = tg::kFloat64}),
                           tg::randn({3, 8}, gen, {.dtype = tg::kFloat64})};
  auto loss = [&](const std::vector<Tensor>& p) {
    Tensor h = tg::avg_pool2d(tg::sigmoid(tg::conv2d(x, p[0], p[1])), {.kernel_size = 2});
    return tg::cross_entropy(tg::matmul(h.reshape({2, 8}), tg::transpose(p[2], 0, 1)), targets);
  };
  tg::HvpResult fwd = tg::hvp(loss, params, v, {.mode = tg::AdMode::Forward});
  tg::HvpResult rev = tg::hvp(loss, params, v, {.mode = tg::AdMode::Reverse});
  tg::HvpResult autom = tg::hvp(loss, params, v);
  for (std::size_t k = 0; k < params.size(); ++k) {
    INFO("parameter " << k);
    CHECK(allclose(fwd.grads[k], rev.grads[k], 1e-10, 1e-12));
    CHECK(allclose(autom.grads[k], rev.grads[k], 1e-10, 1e-12));
    CHECK_FALSE(fwd.grads[k].requires_grad());
  }
  CHECK(fwd.output.item<double>() == Approx(rev.output.item<double>()).epsilon(1e-14));
  // The seed: its Hessian is constant, H = 2 [P 1]^T [P 1]; H v from both modes.
  Seed seed;
  Tensor theta = f64({0.3, -0.7, 0.2}), dir = f64({1.0, 0.5, -0.25});
  auto f = [&](const std::vector<Tensor>& t) { return seed.loss(t[0]); };
  Tensor H = tg::hessian(f, {theta})[0][0];
  Tensor Hv = tg::matmul(H, dir);
  CHECK(allclose(tg::hvp(f, {theta}, {dir}, {.mode = tg::AdMode::Forward}).grads[0], Hv, 1e-12, 1e-12));
  CHECK(allclose(tg::hvp(f, {theta}, {dir}, {.mode = tg::AdMode::Reverse}).grads[0], Hv, 1e-12, 1e-12));
}

TEST_CASE("forward over reverse: backward inside a dual level gives gradients with tangents", "[forward_ad]") {
  // f(x) = sum(x^3): grad = 3 x^2, its tangent along v = 6 x v.
  Tensor x0 = f64({1.0, -2.0, 0.5}), v = f64({1.0, 1.0, 2.0});
  tg::DualLevel level;
  Tensor x = tg::make_dual(x0.detach().requires_grad_(), v);
  Tensor g = tg::grad({(x * x * x).sum()}, {x})[0];
  CHECK(allclose(tg::unpack_dual(g).primal, 3 * x0 * x0));
  CHECK(allclose(tg::tangent(g), 6 * x0 * v));
}

TEST_CASE("a dual level that ends frees the tape entries that computed its tangents", "[forward_ad]") {
  // Under grad mode the ops of the JVP rules are recorded (so that a tangent is differentiable),
  // and the gradient's backward consumes none of them: they die with the level's tangents, and
  // the level's end drops them, so that a loop of forward-over-reverse steps does not grow.
  Tensor w = f64({{0.5, -1.0}, {2.0, 0.25}}).requires_grad_(), v = f64({{1.0, 0.0}, {0.0, 1.0}});
  tg::Tape& tape = tg::Tape::current();
  const std::size_t before = tape.size();
  for (int step = 0; step < 3; ++step) {
    tg::DualLevel level;
    tg::set_tangent(w, v);
    Tensor loss = tg::sigmoid(tg::matmul(w, w)).square().sum();
    CHECK(tape.size() > before + 3);  // the loss's three entries and the tangents' entries
    Tensor g = tg::grad({loss}, {w})[0];
    CHECK(tg::tangent(g).defined());
  }
  CHECK(tape.size() == before);
}

TEST_CASE("reverse over forward: a tangent is differentiable with respect to the primal", "[forward_ad]") {
  // y = x^2 exp(x); y' = (2 x + x^2) exp(x) v; d(sum y')/dx = (2 + 4 x + x^2) exp(x) v.
  Tensor x = f64({0.5, -1.0}).requires_grad_(), v = f64({1.0, 3.0});
  Tensor t;
  {
    tg::DualLevel level;
    t = tg::tangent(tg::square(tg::make_dual(x, v)) * tg::exp(tg::make_dual(x, v)));
  }
  REQUIRE(t.requires_grad());
  Tensor g = tg::grad({t.sum()}, {x})[0];
  Tensor xd = x.detach();
  CHECK(allclose(g, (2 + 4 * xd + xd * xd) * tg::exp(xd) * v, 1e-12, 1e-14));
}

TEST_CASE("a Function with a jvp carries tangents; without one it is an error naming it", "[forward_ad][function]") {
  Tensor x0 = f64({1.0, 2.0}), v = f64({0.5, -1.0});
  tg::DualLevel level;
  Tensor y = Cube::apply(tg::make_dual(x0, v));
  CHECK(allclose(tg::unpack_dual(y).primal, x0 * x0 * x0));
  CHECK(allclose(tg::tangent(y), 3 * x0 * x0 * v));
  CHECK_THROWS_TYPE_WITH(CubeNoJvp::apply(tg::make_dual(x0, v)), tg::AutogradError,
                         Catch::Contains("cube_no_jvp") && Catch::Contains("jvp"));
  CHECK_NOTHROW(CubeNoJvp::apply(x0));  // no tangent reaches it: nothing to do
}

TEST_CASE("hvp of a Function without a jvp: the default names the way out, and reverse mode computes it",
          "[forward_ad][function][hvp]") {
  // tg::hvp is forward over reverse by default, which needs every op's tangent; the error says
  // which mode needs none, and that mode gives the right numbers (sum x^3: H v = 6 x v).
  Tensor x = f64({1.0, -2.0}), v = f64({0.5, 1.0});
  auto f = [](const std::vector<Tensor>& in) { return CubeNoJvp::apply(in[0]).sum(); };
  CHECK_THROWS_TYPE_WITH(tg::hvp(f, {x}, {v}), tg::AutogradError,
                         Catch::Contains("cube_no_jvp") && Catch::Contains("tg::AdMode::Reverse"));
  CHECK(allclose(tg::hvp(f, {x}, {v}, {.mode = tg::AdMode::Reverse}).grads[0], 6 * x * v, 1e-12, 1e-12));
}

TEST_CASE("the printed tape shows the tangents of a dual level", "[forward_ad][inspect]") {
  tg::Tape::current().clear();
  Tensor w = f64({{1.0, 2.0}}).requires_grad_();
  tg::DualLevel level;
  Tensor y = (tg::make_dual(w, f64({{3.0, 4.0}})) * 2).sum();
  std::string text = tg::to_string(tg::Tape::current());
  INFO(text);
  CHECK_THAT(text, Catch::Contains("outputs carry a tangent"));
  CHECK_THAT(text, Catch::Contains("tangent |10|"));  // y' = 2 (3 + 4) = 14 for the sum; |2 [3, 4]| = 10
  CHECK_THAT(text, Catch::Contains("tangent |14|"));
}
