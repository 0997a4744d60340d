// SPDX-License-Identifier: MIT
// Numeric edge cases, forward and backward, against PyTorch's behaviour (the values torch 2
// prints for the same calls are in the comments): empty tensors and zero-size dims, size-1
// dims in broadcasting, log of 0, division by 0, very large logits, NaN inputs, and shapes
// whose element count overflows int64.
#include <cmath>
#include <limits>
#include <vector>

#include "test_util.hpp"

namespace {

using tg::Tensor;

const double kInf = std::numeric_limits<double>::infinity();

Tensor leaf(std::vector<double> v, const tg::Shape& s) { return tg::from_vector(v, s, {.requires_grad = true}); }
Tensor leaf(const tg::Shape& s) { return tg::zeros(s, {.requires_grad = true}); }

}  // namespace

TEST_CASE("sum and mean of empty tensors are 0 and NaN, and backward gives empty gradients",
          "[reliability][numeric_edges]") {
  // torch.zeros(0, requires_grad=True).sum() -> 0., backward -> grad tensor([])
  Tensor x = leaf({0});
  Tensor s = x.sum();
  CHECK(s.item() == 0.0f);
  s.backward();
  REQUIRE(x.grad().defined());
  CHECK(x.grad().shape() == tg::Shape{0});
  // torch.zeros(0, requires_grad=True).mean() -> nan (with a grad_fn), backward -> tensor([])
  Tensor y = leaf({0});
  Tensor m = y.mean();
  CHECK(m.requires_grad());
  CHECK(std::isnan(m.item()));
  m.backward();
  REQUIRE(y.grad().defined());
  CHECK(y.grad().shape() == tg::Shape{0});
  // torch.zeros(2, 0).sum(1) -> [0., 0.]; .mean(1) -> [nan, nan]; grads have shape [2, 0]
  Tensor z = leaf({2, 0});
  Tensor zs = z.sum(1), zm = z.mean(1);
  CHECK((zs.requires_grad() && zm.requires_grad()));
  CHECK(zs.tolist() == std::vector<double>{0, 0});
  CHECK(std::isnan(zm.tolist()[0]));
  CHECK(std::isnan(zm.tolist()[1]));
  (zs.sum() + zm.sum()).backward();
  CHECK(z.grad().shape() == tg::Shape{2, 0});
}

TEST_CASE("zero-size dims flow through matmul, reshape, transpose, softmax, losses and pooling",
          "[reliability][numeric_edges]") {
  // torch: zeros(3, 0) @ zeros(0, 4) -> zeros(3, 4); grads of shape [3, 0] and [0, 4]
  Tensor a = leaf({3, 0}), b = leaf({0, 4});
  Tensor y = tg::matmul(a, b);
  CHECK(y.shape() == tg::Shape{3, 4});
  CHECK(y.tolist() == std::vector<double>(12, 0.0));
  y.sum().backward();
  CHECK(a.grad().shape() == tg::Shape{3, 0});
  CHECK(b.grad().shape() == tg::Shape{0, 4});
  // torch: zeros(0, 4).reshape(4, 0); zeros(2, 0, 3).transpose(0, 2) -> [3, 0, 2]
  CHECK(tg::zeros({0, 4}).reshape({4, 0}).shape() == tg::Shape{4, 0});
  CHECK(tg::zeros({0, 4}).reshape({4, -1}).shape() == tg::Shape{4, 0});
  Tensor t = leaf({2, 0, 3});
  Tensor tt = t.transpose(0, 2);
  CHECK(tt.shape() == tg::Shape{3, 0, 2});
  tt.sum().backward();
  CHECK(t.grad().shape() == tg::Shape{2, 0, 3});
  // softmax over an empty batch and over an empty dim: empty results and gradients
  for (const tg::Shape& s : {tg::Shape{0, 3}, tg::Shape{3, 0}}) {
    Tensor x = leaf(s);
    Tensor p = tg::softmax(x, 1);
    CHECK(p.shape() == s);
    (p.sum() + tg::log_softmax(x, 1).sum()).backward();
    CHECK(x.grad().shape() == s);
  }
  // F.cross_entropy(zeros(0, 3), zeros(0, long)) -> nan; F.mse_loss of empty tensors -> nan
  Tensor logits = leaf({0, 3});
  Tensor ce = tg::cross_entropy(logits, tg::zeros({0}, {.dtype = tg::kInt64}));
  CHECK(std::isnan(ce.item()));
  ce.backward();
  CHECK(logits.grad().shape() == tg::Shape{0, 3});
  Tensor e = leaf({0});
  Tensor mse = tg::mse_loss(e, tg::zeros({0}));
  CHECK(std::isnan(mse.item()));
  mse.backward();
  CHECK(e.grad().shape() == tg::Shape{0});
  // F.max_pool2d(zeros(0, 1, 4, 4), 2) -> [0, 1, 2, 2]; F.conv2d(zeros(0, 1, 5, 5), ones(2, 1, 3, 3))
  // -> [0, 2, 3, 3] and weight grad all zeros
  Tensor images = leaf({0, 1, 4, 4});
  Tensor pooled = tg::max_pool2d(images);
  CHECK(pooled.shape() == tg::Shape{0, 1, 2, 2});
  pooled.sum().backward();
  CHECK(images.grad().shape() == tg::Shape{0, 1, 4, 4});
  Tensor batch = leaf({0, 1, 5, 5}), w = tg::ones({2, 1, 3, 3}, {.requires_grad = true});
  Tensor conv = tg::conv2d(batch, w);
  CHECK(conv.shape() == tg::Shape{0, 2, 3, 3});
  conv.sum().backward();
  CHECK(batch.grad().shape() == tg::Shape{0, 1, 5, 5});
  CHECK(w.grad().tolist() == std::vector<double>(18, 0.0));
}

TEST_CASE("dims of size 1 broadcast: [3, 1] with [1, 4], and gradients sum back", "[reliability][numeric_edges]") {
  Tensor a = leaf({1, 2, 3}, {3, 1}), b = leaf({10, 20, 30, 40}, {1, 4});
  Tensor y = a + b;
  // torch: a + b -> [[11, 21, 31, 41], [12, 22, 32, 42], [13, 23, 33, 43]]
  REQUIRE(y.shape() == tg::Shape{3, 4});
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) CHECK(y.at({i, j}) == static_cast<float>((i + 1) + 10 * (j + 1)));
  y.sum().backward();
  // torch: a.grad = [[4], [4], [4]], b.grad = [[3, 3, 3, 3]]
  CHECK(a.grad().tolist() == std::vector<double>{4, 4, 4});
  CHECK(b.grad().tolist() == std::vector<double>{3, 3, 3, 3});
  a.set_grad(Tensor());
  b.set_grad(Tensor());
  (a * b).sum().backward();
  // torch: a.grad = sum of b = [[100], [100], [100]], b.grad = sum of a = [[6, 6, 6, 6]]
  CHECK(a.grad().tolist() == std::vector<double>{100, 100, 100});
  CHECK(b.grad().tolist() == std::vector<double>{6, 6, 6, 6});
}

TEST_CASE("log of 0 is -inf with gradient inf; division by 0 gives inf with PyTorch's gradients",
          "[reliability][numeric_edges]") {
  // torch.tensor([0., 1.]).log() -> [-inf, 0.], grad -> [inf, 1.]
  Tensor x = leaf({0, 1}, {2});
  Tensor y = x.log();
  CHECK(y.tolist() == std::vector<double>{-kInf, 0});
  y.sum().backward();
  CHECK(x.grad().tolist() == std::vector<double>{kInf, 1});
  // torch.tensor([-1.]).log() -> nan, grad -> -1 (1 / x, not NaN)
  Tensor n = leaf({-1}, {1});
  Tensor ln = n.log();
  CHECK(std::isnan(ln.item()));
  ln.backward();
  CHECK(n.grad().item() == -1.0f);
  // a = [1, -1, 0], b = 0: a / b -> [inf, -inf, nan]; a.grad -> [inf, inf, inf];
  // b.grad = -a / b^2 -> [-inf, inf, nan]
  Tensor a = leaf({1, -1, 0}, {3}), b = leaf({3});
  Tensor q = a / b;
  std::vector<double> qv = q.tolist();
  CHECK(qv[0] == kInf);
  CHECK(qv[1] == -kInf);
  CHECK(std::isnan(qv[2]));
  q.sum().backward();
  CHECK(a.grad().tolist() == std::vector<double>{kInf, kInf, kInf});
  std::vector<double> gb = b.grad().tolist();
  CHECK(gb[0] == -kInf);
  CHECK(gb[1] == kInf);
  CHECK(std::isnan(gb[2]));
  // torch.tensor([0.]).pow(0.5) -> 0, grad inf; .pow(-1.) -> inf, grad -inf
  Tensor r = leaf({0}, {1});
  Tensor sq = r.pow(0.5);
  CHECK(sq.item() == 0.0f);
  sq.backward();
  CHECK(r.grad().item() == std::numeric_limits<float>::infinity());
  Tensor v = leaf({0}, {1});
  Tensor inv = v.pow(-1);
  CHECK(inv.item() == std::numeric_limits<float>::infinity());
  inv.backward();
  CHECK(v.grad().item() == -std::numeric_limits<float>::infinity());
}

TEST_CASE("softmax, log_softmax and cross_entropy stay finite and exact for logits of 1e4",
          "[reliability][numeric_edges]") {
  // F.softmax([[1e4, 0, -1e4]], 1) -> [[1, 0, 0]]; the gradient of its first element -> [[0, -0, -0]]
  Tensor x = leaf({1e4, 0, -1e4}, {1, 3});
  Tensor p = tg::softmax(x, 1);
  CHECK(p.tolist() == std::vector<double>{1, 0, 0});
  p.backward(tg::from_vector({1, 0, 0}, {1, 3}));
  CHECK(x.grad().tolist() == std::vector<double>{0, 0, 0});
  // F.log_softmax -> [[0, -10000, -20000]]; gradient of the sum -> [[-2, 1, 1]]
  Tensor x2 = leaf({1e4, 0, -1e4}, {1, 3});
  Tensor lp = tg::log_softmax(x2, 1);
  CHECK(lp.tolist() == std::vector<double>{0, -10000, -20000});
  lp.sum().backward();
  CHECK(x2.grad().tolist() == std::vector<double>{-2, 1, 1});
  // F.cross_entropy([[1e4, 0, -1e4], [-1e4, 1e4, 0]], [1, 1]) -> 5000; gradient
  // [[0.5, -0.5, 0], [0, 0, 0]]
  Tensor logits = leaf({1e4, 0, -1e4, -1e4, 1e4, 0}, {2, 3});
  Tensor ce = tg::cross_entropy(logits, tg::tensor({1, 1}, {.dtype = tg::kInt64}));
  CHECK(ce.item() == 5000.0f);
  ce.backward();
  CHECK(logits.grad().tolist() == std::vector<double>{0.5, -0.5, 0, 0, 0, 0});
  // exp overflows to inf and underflows to 0 (torch: exp([1000, -1000]) -> [inf, 0], grad [inf, 0]);
  // sigmoid and tanh saturate with zero gradients (torch: sigmoid grad [0, 0, 0.25], tanh [0, 0, 1])
  Tensor e = leaf({1000, -1000}, {2});
  Tensor ey = e.exp();
  CHECK(ey.tolist() == std::vector<double>{kInf, 0});
  ey.sum().backward();
  CHECK(e.grad().tolist() == std::vector<double>{kInf, 0});
  Tensor s = leaf({1000, -1000, 0}, {3});
  Tensor sy = s.sigmoid() + s.tanh();
  CHECK(sy.tolist() == std::vector<double>{2, -1, 0.5});
  sy.sum().backward();
  CHECK(s.grad().tolist() == std::vector<double>{0, 0, 1.25});
}

TEST_CASE("NaN inputs propagate through ops and their gradients as in PyTorch", "[reliability][numeric_edges]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // torch.tensor([nan, -1., 2.]).relu() -> [nan, 0., 2.], grad -> [1., 0., 1.]
  Tensor x = leaf({nan, -1, 2}, {3});
  Tensor r = x.relu();
  std::vector<double> rv = r.tolist();
  CHECK(std::isnan(rv[0]));
  CHECK(rv[1] == 0);
  CHECK(rv[2] == 2);
  r.sum().backward();
  CHECK(x.grad().tolist() == std::vector<double>{1, 0, 1});
  // F.max_pool2d([[[[1, nan], [3, 4]]]], 2) -> nan; the gradient goes to the NaN: [[0, 1], [0, 0]]
  Tensor img = leaf({1, nan, 3, 4}, {1, 1, 2, 2});
  Tensor pooled = tg::max_pool2d(img);
  CHECK(std::isnan(pooled.item()));
  pooled.sum().backward();
  CHECK(img.grad().tolist() == std::vector<double>{0, 1, 0, 0});
  // (x * 2).sum() with a NaN -> nan, grad [2, 2, 2]
  Tensor v = leaf({1, nan, 3}, {3});
  Tensor sum = (v * 2.0).sum();
  CHECK(std::isnan(sum.item()));
  sum.backward();
  CHECK(v.grad().tolist() == std::vector<double>{2, 2, 2});
  // F.softmax([[1, nan]], 1) -> [[nan, nan]], grad [[nan, nan]]
  Tensor l = leaf({1, nan}, {1, 2});
  Tensor p = tg::softmax(l, 1);
  for (double value : p.tolist()) CHECK(std::isnan(value));
  p.sum().backward();
  for (double value : l.grad().tolist()) CHECK(std::isnan(value));
  // exp([0, nan]) -> [1, nan], grad [1, nan]
  Tensor e = leaf({0, nan}, {2});
  Tensor ey = e.exp();
  CHECK(ey.tolist()[0] == 1);
  CHECK(std::isnan(ey.tolist()[1]));
  ey.sum().backward();
  CHECK(e.grad().tolist()[0] == 1);
  CHECK(std::isnan(e.grad().tolist()[1]));
}

TEST_CASE("shapes whose element count overflows int64 are a ShapeError naming the dims in every factory",
          "[reliability][numeric_edges]") {
  constexpr std::int64_t huge = std::int64_t{1} << 40;  // torch.zeros(2**40, 2**40): RuntimeError
  const tg::Shape big{huge, huge};
  auto check = [](const char* op, auto&& call) {
    INFO(op);
    CHECK_THROWS_AS(call(), tg::ShapeError);
    CHECK_THROWS_WITH(call(), Catch::Contains(std::string(op) + ": the number of elements of shape "
                                                                "[1099511627776, 1099511627776]"));
  };
  check("empty", [&] { tg::empty(big); });
  check("zeros", [&] { tg::zeros(big); });
  check("ones", [&] { tg::ones(big); });
  check("full", [&] { tg::full(big, 2); });
  check("randn", [&] { tg::randn(big); });
  check("rand", [&] { tg::rand(big); });
  check("reshape", [&] { tg::reshape(tg::ones({2}), big); });
  check("reshape", [&] { tg::ones({2}).reshape({huge, huge}); });
  check("expand", [&] { tg::expand(tg::ones({1, 1}), big); });
  // A zero anywhere makes the product 0: not an overflow (torch.zeros(2**40, 2**40, 0) is fine).
  CHECK(tg::zeros({huge, huge, 0}).numel() == 0);
  CHECK(tg::zeros({0, huge, huge}).numel() == 0);
  // 2^62 float32 elements fit in int64 but their bytes do not fit in size_t.
  CHECK_THROWS_AS(tg::empty({std::int64_t{1} << 62}), tg::ShapeError);
}
