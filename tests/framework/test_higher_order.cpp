// SPDX-License-Identifier: MIT
// Derivatives of derivatives: backward with create_graph, tg::grad, and the reverse-mode
// functional API (vjp, hessian, hvp), against closed forms. The sweep over every registry op
// is in test_registry.cpp ([gradgradcheck]); PyTorch's values in test_pytorch_reference.cpp.
#include "test_util.hpp"

using tg::Tensor;
using tg::test::allclose;

namespace {
Tensor f64(std::initializer_list<tg::NestedList> values) { return tg::tensor(values, {.dtype = tg::kFloat64}); }
}  // namespace

TEST_CASE("backward with create_graph makes .grad differentiable", "[higher_order]") {
  Tensor x = f64({1.0, 2.0, -3.0}).requires_grad_();
  Tensor y = (x * x * x).sum();  // dy/dx = 3 x^2, d2y/dx2 = 6 x
  y.backward({.create_graph = true});
  Tensor g = x.grad();
  CHECK(allclose(g, f64({3.0, 12.0, 27.0})));
  REQUIRE(g.requires_grad());  // a tensor of the new graph
  CHECK_FALSE(g.is_leaf());
  x.set_grad(Tensor());
  g.sum().backward();
  CHECK(allclose(x.grad(), f64({6.0, 12.0, -18.0})));
}

TEST_CASE("without create_graph, gradients are plain numbers and the first-order result is unchanged",
          "[higher_order]") {
  Tensor x = f64({1.0, 2.0}).requires_grad_();
  (x * x * x).sum().backward();
  CHECK_FALSE(x.grad().requires_grad());
  CHECK(allclose(x.grad(), f64({3.0, 12.0})));
  x.set_grad(Tensor());
  (x * x * x).sum().backward(Tensor(), {.retain_graph = false});
  CHECK(allclose(x.grad(), f64({3.0, 12.0})));
}

TEST_CASE("create_graph keeps the forward graph by default (retain_graph follows it, as in PyTorch)",
          "[higher_order]") {
  Tensor x = f64({0.5}).requires_grad_();
  Tensor y = tg::exp(x * 2).sum();
  y.backward({.create_graph = true});
  Tensor g = x.grad();  // 2 e^(2x)
  x.set_grad(Tensor());
  g.sum().backward();  // 4 e^(2x): walks the first graph's entries again, so they must still be there
  CHECK(x.grad().item<double>() == Approx(4 * std::exp(1.0)));
  // With retain_graph = false the first graph is freed, and the second backward says so.
  Tensor z = f64({0.5}).requires_grad_();
  Tensor w = tg::exp(z * 2).sum();
  w.backward({.retain_graph = false, .create_graph = true});
  CHECK_THROWS_AS(z.grad().sum().backward(), tg::AutogradError);
}

TEST_CASE("gradients accumulate out of place under create_graph", "[higher_order]") {
  // x is used twice: its two contributions are summed by a recorded add, so the saved
  // tensors of the new graph are never written to.
  Tensor x = f64({1.5, -0.5}).requires_grad_();
  Tensor y = (x * x).sum() + (x * x * x).sum();  // dy = 2x + 3x^2, d2y = 2 + 6x
  Tensor g = tg::grad({y}, {x}, {.create_graph = true})[0];
  CHECK(allclose(g, f64({2 * 1.5 + 3 * 2.25, 2 * -0.5 + 3 * 0.25})));
  Tensor h = tg::grad({g.sum()}, {x})[0];
  CHECK(allclose(h, f64({2 + 6 * 1.5, 2 + 6 * -0.5})));
  // .grad of a leaf accumulates across two recording backwards, still differentiably.
  Tensor a = f64({2.0}).requires_grad_();
  (a * a).sum().backward({.create_graph = true});
  (a * a * a).sum().backward({.create_graph = true});  // .grad = 2a + 3a^2
  CHECK(a.grad().item<double>() == Approx(16.0));
  Tensor ga = a.grad();
  a.set_grad(Tensor());
  ga.sum().backward();
  CHECK(a.grad().item<double>() == Approx(2 + 6 * 2.0));
}

TEST_CASE("tg::grad returns gradients and touches no .grad", "[higher_order][grad]") {
  Tensor x = f64({1.0, 2.0}).requires_grad_();
  Tensor w = f64({3.0, -1.0}).requires_grad_();
  Tensor y = (x * w).sum();
  std::vector<Tensor> g = tg::grad({y}, {w, x});
  CHECK(allclose(g[0], f64({1.0, 2.0})));
  CHECK(allclose(g[1], f64({3.0, -1.0})));
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(w.grad().defined());
  CHECK_FALSE(g[0].requires_grad());
}

TEST_CASE("tg::grad: several outputs with grad_outputs, intermediate inputs, repeated inputs", "[higher_order][grad]") {
  Tensor x = f64({1.0, 2.0, 3.0}).requires_grad_();
  Tensor h = x * 2;  // an intermediate tensor
  Tensor y1 = h * h, y2 = h.sum();
  Tensor v = f64({1.0, 0.0, -1.0});
  std::vector<Tensor> g = tg::grad({y1, y2}, {h, x, h}, {.grad_outputs = {v, Tensor()}, .retain_graph = true});
  // d/dh (<h*h, v> + sum h) = 2 h v + 1;  d/dx = 2 (2 h v + 1)
  CHECK(allclose(g[0], f64({5.0, 1.0, -11.0})));
  CHECK(allclose(g[1], f64({10.0, 2.0, -22.0})));
  CHECK(allclose(g[2], g[0]));
  // The gradient of the output itself is its seed.
  CHECK(allclose(tg::grad({y2}, {y2}, {.retain_graph = true})[0], tg::ones({}, {.dtype = tg::kFloat64})));
}

TEST_CASE("tg::grad refuses what cannot be differentiated and names it", "[higher_order][grad][bad_input]") {
  Tensor x = f64({1.0, 2.0}).requires_grad_();
  Tensor unused = f64({5.0}).requires_grad_();
  Tensor c = f64({1.0});
  Tensor y = (x * x).sum();
  CHECK_THROWS_WITH(tg::grad({y}, {unused}, {.retain_graph = true}),
                    Catch::Contains("grad: input 0 [1] was not used") && Catch::Contains(".allow_unused = true"));
  std::vector<Tensor> g = tg::grad({y}, {x, unused}, {.retain_graph = true, .allow_unused = true});
  CHECK(g[0].defined());
  CHECK_FALSE(g[1].defined());
  g = tg::grad({y}, {unused}, {.retain_graph = true, .materialize_grads = true});
  CHECK(allclose(g[0], f64({0.0})));
  CHECK_THROWS_WITH(tg::grad({y}, {c}), Catch::Contains("grad: input 0 [1] does not require grad"));
  CHECK_THROWS_WITH(tg::grad({c}, {x}), Catch::Contains("grad: output 0 [1] does not require grad"));
  CHECK_THROWS_WITH(tg::grad({y}, {x}, {.grad_outputs = {c, c}}), Catch::Contains("2 grad_outputs for 1 outputs"));
  CHECK_THROWS_AS(tg::grad({}, {x}), tg::ValueError);
  CHECK_THROWS_AS(tg::grad({y}, {}), tg::ValueError);
  CHECK_THROWS_AS(tg::grad({x * 2}, {x}), tg::AutogradError);  // not a scalar, and no seed
}

TEST_CASE("a backward from inside a backward is refused, not run on a half-swept tape", "[higher_order]") {
  Tensor x = f64({1.0}).requires_grad_();
  Tensor h = x * 3;
  Tensor other = (x * 2).sum();
  h.register_hook([&](const Tensor&) {
    other.backward();
    return Tensor();
  });
  CHECK_THROWS_WITH(h.sum().backward(), Catch::Contains("while a backward pass of this thread's tape is running"));
}

TEST_CASE("a seed that requires grad stays in the graph under create_graph", "[higher_order][grad]") {
  // The double-backward trick: u -> J^T u is linear, so its gradient with respect to u at any
  // point, seeded by v, is J v (a Jacobian-vector product from two reverse passes).
  Tensor x = f64({1.0, 2.0}).requires_grad_();
  Tensor x0 = tg::select(x, 0, 0), x1 = tg::select(x, 0, 1);
  Tensor y = tg::stack({x0 * x1, x0 + x1 * x1});  // J = [[x1, x0], [1, 2 x1]]
  Tensor u = tg::zeros({2}, {.dtype = tg::kFloat64}).requires_grad_();
  Tensor jtu = tg::grad({y}, {x}, {.grad_outputs = {u}, .create_graph = true})[0];
  Tensor jv = tg::grad({jtu}, {u}, {.grad_outputs = {f64({1.0, -1.0})}})[0];
  CHECK(allclose(jv, f64({2.0 - 1.0, 1.0 - 4.0})));
}

TEST_CASE("vjp, hessian and hvp match closed forms", "[higher_order][functional]") {
  // f(x, A) = x^T A x: grad_x = (A + A^T) x, H_xx = A + A^T, H_xA[i][j, k] = d/dx_i (x_j x_k)
  Tensor x = f64({1.0, -2.0});
  Tensor A = f64({{1.0, 2.0}, {0.5, 3.0}});
  auto f = [](const std::vector<Tensor>& v) { return tg::matmul(tg::matmul(v[0].unsqueeze(0), v[1]), v[0]).sum(); };
  tg::VjpResult r = tg::vjp(f, {x, A});
  CHECK(r.output.item<double>() == Approx(1 - 2 * 2.5 + 12));  // x^T A x = 1 + (-2)(2 + 0.5) + 4 * 3
  CHECK(allclose(r.grads[0], f64({2 * 1.0 + 2.5 * -2.0, 2.5 * 1.0 + 6 * -2.0})));
  CHECK(allclose(r.grads[1], f64({{1.0, -2.0}, {-2.0, 4.0}})));  // x x^T
  CHECK_FALSE(r.grads[0].requires_grad());
  CHECK_FALSE(x.requires_grad());  // the caller's tensors are not touched

  std::vector<std::vector<Tensor>> H = tg::hessian(f, {x, A});
  CHECK(allclose(H[0][0], f64({{2.0, 2.5}, {2.5, 6.0}})));
  REQUIRE(H[0][1].shape() == tg::Shape{2, 2, 2});
  // d2f / dx_i dA_jk = delta_ij x_k + delta_ik x_j
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 2; ++j)
      for (std::int64_t k = 0; k < 2; ++k) {
        double want = (i == j ? x.at<double>({k}) : 0) + (i == k ? x.at<double>({j}) : 0);
        CHECK(H[0][1].at<double>({i, j, k}) == Approx(want));
        CHECK(H[1][0].at<double>({j, k, i}) == Approx(want));
      }
  CHECK(allclose(H[1][1], tg::zeros({2, 2, 2, 2}, {.dtype = tg::kFloat64})));  // linear in A

  tg::HvpResult hv = tg::hvp(f, {x, A}, {f64({1.0, 1.0}), tg::zeros({2, 2}, {.dtype = tg::kFloat64})});
  CHECK(allclose(hv.grads[0], f64({4.5, 8.5})));  // (A + A^T) [1, 1]
  // hvp(v) equals H v assembled from the Hessian blocks
  CHECK(allclose(hv.grads[1], tg::matmul(tg::reshape(H[1][0], {4, 2}), f64({1.0, 1.0})).reshape({2, 2})));

  // One input: a tensor of shape x.shape + x.shape. f(x) = sum exp(x) x0 ...
  Tensor h1 = tg::hessian([](const Tensor& v) { return (tg::exp(v) * tg::select(v, 0, 0)).sum(); }, f64({0.0, 1.0}));
  const double e = std::exp(1.0);
  CHECK(allclose(h1, f64({{2.0, e}, {e, 0.0}})));  // d2/dx0^2 (e^x0 x0 + e^x1 x0) = e^x0 (2 + x0); d2/dx0dx1 = e^x1
}

TEST_CASE("the functional API with create_graph gives third derivatives", "[higher_order][functional]") {
  Tensor x = f64({0.7}).requires_grad_();
  // f = x^4: H = 12 x^2, dH/dx = 24 x
  Tensor H = tg::hessian([](const Tensor& v) { return (v * v * v * v).sum(); }, x, {.create_graph = true});
  CHECK(H.at<double>({0, 0}) == Approx(12 * 0.49));
  Tensor d3 = tg::grad({H.sum()}, {x})[0];
  CHECK(d3.item<double>() == Approx(24 * 0.7));
}

TEST_CASE("the functional API refuses bad calls, naming the op", "[higher_order][functional][bad_input]") {
  auto f = [](const std::vector<Tensor>& v) { return v[0] * 2; };
  Tensor x = f64({1.0, 2.0});
  CHECK_THROWS_WITH(tg::hessian(f, {x}), Catch::Contains("hessian: f must return a single number, got shape [2]"));
  CHECK_THROWS_WITH(tg::vjp(f, {x}), Catch::Contains("vjp: f's output has shape [2]; pass v"));
  CHECK_THROWS_WITH(tg::vjp(f, {x}, f64({1.0})), Catch::Contains("vjp: v has shape [1]"));
  auto s = [](const std::vector<Tensor>& v) { return v[0].sum(); };
  CHECK_THROWS_WITH(tg::hvp(s, {x}, {f64({1.0})}),
                    Catch::Contains("hvp: v[0] has shape [1] but input 0 has shape [2]"));
  CHECK_THROWS_WITH(tg::hvp(s, {x}, {}), Catch::Contains("hvp: 0 vectors for 1 inputs"));
  CHECK_THROWS_AS(tg::vjp(f, {tg::tensor({1, 2}, {.dtype = tg::kInt64})}, x), tg::DtypeError);
  // Linear f: the Hessian is zero, and hvp is zeros.
  CHECK(allclose(tg::hvp(s, {x}, {x}).grads[0], f64({0.0, 0.0})));
}

namespace {
// y = x^2 as a user-defined op, with a backward that is right (dx = 2 x dy) or right to first
// order only (2 x.detach() dy: the recorded backward then misses d(dx)/dx = 2 dy).
template <bool Detached>
struct Square : tg::Function<Square<Detached>> {
  static constexpr const char* name = "square_by_hand";
  static Tensor forward(tg::AutogradContext& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return x * x;
  }
  static std::vector<Tensor> backward(tg::AutogradContext& ctx, const std::vector<Tensor>& grads) {
    Tensor x = ctx.get_saved_variables()[0];
    return {grads[0] * (Detached ? x.detach() : x) * 2};
  }
};
}  // namespace

TEST_CASE("gradgradcheck catches a backward that is right to first order only", "[higher_order][gradgradcheck]") {
  auto right = [](const std::vector<Tensor>& v) { return Square<false>::apply(v[0]); };
  auto wrong = [](const std::vector<Tensor>& v) { return Square<true>::apply(v[0]); };
  Tensor x = f64({0.3, -1.2});
  CHECK(tg::gradcheck(right, {x}).ok);
  CHECK(tg::gradcheck(wrong, {x}).ok);  // first derivatives agree
  CHECK(tg::gradgradcheck(right, {x}).ok);
  tg::GradcheckResult r = tg::gradgradcheck(wrong, {x});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.message, Catch::Contains("Jacobian mismatch for input 0"));
}

namespace {
// y = x^2 with a backward that reads raw data, declared once_differentiable.
struct RawSquare : tg::Function<RawSquare> {
  static constexpr const char* name = "raw_square";
  static constexpr bool once_differentiable = true;
  static Tensor forward(tg::AutogradContext& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return x * x;
  }
  static std::vector<Tensor> backward(tg::AutogradContext& ctx, const std::vector<Tensor>& grads) {
    Tensor x = ctx.get_saved_variables()[0], g = grads[0], dx = tg::empty(x.shape(), {.dtype = x.dtype()});
    for (std::int64_t i = 0; i < x.numel(); ++i) dx.data<double>()[i] = 2 * x.data<double>()[i] * g.data<double>()[i];
    return {dx};
  }
};
}  // namespace

TEST_CASE("a once_differentiable op gives first derivatives, and refuses a second with its name",
          "[higher_order][function]") {
  Tensor x = f64({1.5, -2.0}).requires_grad_();
  CHECK(allclose(tg::grad({RawSquare::apply(x).sum()}, {x})[0], f64({3.0, -4.0})));  // first order: as usual
  Tensor g = tg::grad({RawSquare::apply(x).sum()}, {x}, {.create_graph = true})[0];
  CHECK(allclose(g, f64({3.0, -4.0})));
  REQUIRE(g.requires_grad());  // recorded, so a second backward cannot mistake it for a constant
  CHECK_THROWS_WITH(g.sum().backward(), Catch::Contains("raw_square's backward is marked once_differentiable") &&
                                            Catch::Contains("write its backward with tensor ops"));
}

// ---- against PyTorch (scripts/fixtures/higher_order.py) ----
namespace {
Tensor load(const std::string& name) { return tg::load_npy(tg::test::fixture("torch/higher_order/" + name + ".npy")); }
// float32 on both sides; the bound for second derivatives is 1e-4 relative.
void check_matches(const Tensor& got, const std::string& name, double rtol = 1e-4, double atol = 1e-5) {
  Tensor expected = load(name);
  INFO(name << "\ntapegrad: " << tg::to_string(got) << "\ntorch:    " << tg::to_string(expected));
  REQUIRE(got.defined());
  CHECK(tg::test::allclose(got.reshape(expected.shape()), expected, rtol, atol));
}
}  // namespace

TEST_CASE("the seed loss's gradient and Hessian match PyTorch's", "[torch][higher_order]") {
  Tensor X = tg::test::edge_image();
  Tensor Y = tg::corr2d(X, Tensor{{1.0F, -1.0F}});
  Tensor theta = load("seed_theta");
  auto loss = [&](const std::vector<Tensor>& v) {
    Tensor K = tg::narrow(v[0], 0, 0, 2).reshape({1, 2});
    return (tg::corr2d(X, K) + tg::select(v[0], 0, 2) - Y).square().sum();
  };
  check_matches(tg::vjp(loss, {theta}).grads[0], "seed_grad");
  check_matches(tg::hessian(loss, {theta})[0][0], "seed_hessian");
}

TEST_CASE("a Hessian-vector product through conv2d, tanh, max_pool2d and cross_entropy matches PyTorch's",
          "[torch][higher_order]") {
  Tensor x = load("hvp_x");
  Tensor targets = tg::load_npy(tg::test::fixture("torch/higher_order/hvp_targets.npy"));
  const std::vector<std::string> names = {"w1", "b1", "w2", "b2"};
  std::vector<Tensor> params, v;
  for (const std::string& n : names) {
    params.push_back(load("hvp_" + n));
    v.push_back(load("hvp_v_" + n));
  }
  auto loss = [&](const std::vector<Tensor>& p) {
    Tensor h = tg::max_pool2d(tg::tanh(tg::conv2d(x, p[0], p[1], {.padding = 1})), {.kernel_size = 2});
    Tensor logits = tg::matmul(h.reshape({2, 27}), tg::transpose(p[2], 0, 1)) + p[3];
    return tg::cross_entropy(logits, targets);
  };
  tg::HvpResult r = tg::hvp(loss, params, v);
  check_matches(r.output, "hvp_loss");
  for (std::size_t k = 0; k < names.size(); ++k) check_matches(r.grads[k], "hvp_H" + names[k]);
}

TEST_CASE("a gradient penalty through conv2d matches PyTorch's, and its unused bias is reported",
          "[torch][higher_order]") {
  Tensor x = load("gp_x").requires_grad_();
  Tensor w1 = load("gp_w1").requires_grad_(), b1 = load("gp_b1").requires_grad_();
  Tensor w2 = load("gp_w2").requires_grad_(), b2 = load("gp_b2").requires_grad_();
  Tensor D = tg::conv2d(tg::tanh(tg::conv2d(x, w1, b1)), w2, b2).reshape({2, -1}).sum(1);
  Tensor dx = tg::grad({D.sum()}, {x}, {.create_graph = true})[0];
  Tensor norm = tg::sqrt(dx.reshape({2, -1}).square().sum(1));
  Tensor penalty = (norm - 1).square().mean();
  check_matches(penalty, "gp_penalty");
  std::vector<Tensor> g = tg::grad({penalty}, {w1, b1, w2, b2}, {.allow_unused = true});
  check_matches(g[0], "gp_dw1");
  check_matches(g[1], "gp_db1");
  check_matches(g[2], "gp_dw2");
  CHECK_FALSE(g[3].defined());  // as PyTorch: dD/dx does not depend on the last bias
}
