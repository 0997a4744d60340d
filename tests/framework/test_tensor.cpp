// SPDX-License-Identifier: MIT
// Tensor: factories, element access, in-place writes, views and copies.
#include <cmath>
#include <limits>

#include "test_util.hpp"

using tg::Shape;
using tg::Slice;
using tg::Tensor;

namespace {

std::vector<double> values(const Tensor& t) { return t.tolist(); }

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double std_of(const std::vector<double>& v) {
  double m = mean_of(v), s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

}  // namespace

// ---- factories ----

TEST_CASE("zeros, ones, full and scalar fill their shape", "[tensor]") {
  Tensor z = tg::zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.dtype() == tg::kFloat32);
  CHECK(!z.requires_grad());
  CHECK(values(z) == std::vector<double>(6, 0.0));
  CHECK(values(tg::ones({4})) == std::vector<double>(4, 1.0));
  CHECK(values(tg::full({2, 2}, -2.5)) == std::vector<double>(4, -2.5));

  Tensor d = tg::full({3}, 0.1, {.dtype = tg::kFloat64, .requires_grad = true});
  CHECK(d.dtype() == tg::kFloat64);
  CHECK(d.requires_grad());
  CHECK(d.is_leaf());
  CHECK(d.at<double>({1}) == 0.1);  // exact in float64; 0.1f would differ

  Tensor s = tg::scalar(4.5);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item() == 4.5f);

  Tensor like = tg::ones_like(d);
  CHECK(like.dtype() == tg::kFloat64);
  CHECK(like.shape() == Shape{3});
  CHECK(!like.requires_grad());
  CHECK(values(tg::zeros_like(d)) == std::vector<double>(3, 0.0));
}

TEST_CASE("from_vector copies values in row-major order and checks the count", "[tensor]") {
  Tensor t = tg::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.at({1, 0}) == 4.0f);
  CHECK(t.at({0, 2}) == 3.0f);
  CHECK_THROWS_AS(tg::from_vector({1, 2, 3}, {2, 2}), tg::ShapeError);
}

TEST_CASE("arange follows torch.arange, including its element count", "[tensor]") {
  CHECK(values(tg::arange(5)) == std::vector<double>{0, 1, 2, 3, 4});
  CHECK(values(tg::arange(0, 10, 3)) == std::vector<double>{0, 3, 6, 9});
  CHECK(values(tg::arange(5, 0, -1.5)) == std::vector<double>{5, 3.5, 2, 0.5});
  CHECK(values(tg::arange(1, 2.5, 0.5)) == std::vector<double>{1, 1.5, 2});
  CHECK(tg::arange(3, 3).numel() == 0);
  // torch counts ceil((end - start) / step) in double precision, so these give 10 and 4
  // elements (the latter includes 1.3 itself, since 0.3 / 0.1 is a bit more than 3).
  CHECK(tg::arange(0, 1, 0.1).numel() == 10);
  CHECK(tg::arange(-1, 1, 0.3).numel() == 7);
  Tensor t = tg::arange(1, 1.3, 0.1);
  CHECK(t.numel() == 4);
  CHECK(t.at({3}) == 1.3f);
  Tensor d = tg::arange(0, 1, 0.25, {.dtype = tg::kFloat64, .requires_grad = true});
  CHECK(d.dtype() == tg::kFloat64);
  CHECK(d.requires_grad());
  CHECK(values(d) == std::vector<double>{0, 0.25, 0.5, 0.75});
}

TEST_CASE("arange rejects a zero step and a step pointing away from end, as torch does", "[tensor]") {
  CHECK_THROWS_AS(tg::arange(0, 1, 0), tg::ValueError);
  CHECK_THROWS_AS(tg::arange(0, std::numeric_limits<double>::infinity()), tg::ValueError);
  // torch.arange(0, -3, 1) raises "upper bound and larger bound inconsistent with step sign".
  CHECK_THROWS_AS(tg::arange(0, -3, 1), tg::ValueError);
  CHECK_THROWS_WITH(tg::arange(0, 3, -1), Catch::Contains("step"));
  // A count that does not fit in int64 is an error, not an overflowing cast.
  CHECK_THROWS_AS(tg::arange(0, 1e30), tg::ValueError);
  CHECK_THROWS_WITH(tg::arange(0, 1e30), Catch::Contains("elements"));
}

TEST_CASE("randn and rand are reproducible per seed and differ across seeds", "[tensor][random]") {
  tg::Generator a(42), b(42), c(43);
  Tensor x = tg::randn({100}, a), y = tg::randn({100}, b), z = tg::randn({100}, c);
  CHECK(values(x) == values(y));
  CHECK(values(x) != values(z));
  // The stream continues: a second draw differs from the first.
  CHECK(values(tg::randn({100}, a)) != values(x));

  tg::Generator u1(7), u2(7), u3(8);
  CHECK(values(tg::rand({50}, u1)) == values(tg::rand({50}, u2)));
  CHECK(values(tg::rand({50}, u1)) != values(tg::rand({50}, u3)));

  tg::manual_seed(123);
  Tensor d1 = tg::randn({10}, {.dtype = tg::kFloat64});
  tg::manual_seed(123);
  Tensor d2 = tg::randn({10}, {.dtype = tg::kFloat64});
  CHECK(d1.dtype() == tg::kFloat64);
  CHECK(values(d1) == values(d2));
}

TEST_CASE("randn has mean 0 and std 1, rand is uniform from 0 to 1 (1 excluded)", "[tensor][random]") {
  tg::Generator gen(2024);
  // Over 10^5 samples the standard error of the mean is 0.003 (randn) and 0.0009 (rand).
  std::vector<double> n = values(tg::randn({100000}, gen));
  CHECK(std::abs(mean_of(n)) < 0.015);
  CHECK(std::abs(std_of(n) - 1) < 0.015);

  std::vector<double> u = values(tg::rand({100000}, gen));
  CHECK(*std::min_element(u.begin(), u.end()) >= 0.0);
  CHECK(*std::max_element(u.begin(), u.end()) < 1.0);
  CHECK(std::abs(mean_of(u) - 0.5) < 0.005);
  CHECK(std::abs(std_of(u) - std::sqrt(1.0 / 12)) < 0.005);
}

TEST_CASE("rand in float32 never returns 1", "[tensor][random]") {
  // With seed 1, uniform draw number 517518 is 0.99999998994, which rounds to 1.0f: a
  // float32 sample must still stay below 1 (torch.rand's interval is [0, 1)).
  tg::Generator gen(1);
  std::vector<double> u = values(tg::rand({517519}, gen));
  CHECK(u.back() < 1.0);
  CHECK(u.back() > 0.9999);
  CHECK(*std::max_element(u.begin(), u.end()) < 1.0);
}

// ---- nested lists ----

TEST_CASE("nested initializer lists give tensors up to 4-D", "[tensor]") {
  Tensor v{1, 2, 3};
  CHECK(v.shape() == Shape{3});
  Tensor m{{0, 1, 2}, {3, 4, 5}};
  CHECK(m.shape() == Shape{2, 3});
  CHECK(values(m) == std::vector<double>{0, 1, 2, 3, 4, 5});
  Tensor c{{{1, 2}, {3, 4}, {5, 6}}, {{7, 8}, {9, 10}, {11, 12}}};
  CHECK(c.shape() == Shape{2, 3, 2});
  CHECK(c.at({1, 2, 0}) == 11.0f);
  Tensor q{{{{1, 2}, {3, 4}}}, {{{5, 6}, {7, 8}}}};
  CHECK(q.shape() == Shape{2, 1, 2, 2});
  CHECK(values(q) == std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(q.dtype() == tg::kFloat32);
}

TEST_CASE("every brace opens a dim, also around single numbers", "[tensor]") {
  Tensor column{{7}, {8}};
  CHECK(column.shape() == tg::Shape{2, 1});
  CHECK(column.at({1, 0}) == 8);
  CHECK(Tensor{5}.shape() == tg::Shape{1});
  CHECK(Tensor{{{1}}}.shape() == tg::Shape{1, 1, 1});
  CHECK(Tensor{{}, {}}.shape() == tg::Shape{2, 0});
  CHECK_THROWS_WITH((Tensor{{1, 2}, 3}), Catch::Contains("dim 1 has lengths 2 and a number"));
  CHECK_THROWS_WITH((Tensor{1, {2}}), Catch::Contains("a list appears at depth 1"));
}

TEST_CASE("ragged nested lists are a ShapeError naming the dim", "[tensor]") {
  auto ragged2 = [] { return Tensor{{1, 2}, {3}}; };
  CHECK_THROWS_AS(ragged2(), tg::ShapeError);
  CHECK_THROWS_WITH(ragged2(), Catch::Contains("ragged: dim 1 has lengths 2 and 1"));
  auto ragged3 = [] { return Tensor{{{1, 2}, {3, 4}}, {{5, 6}}}; };
  CHECK_THROWS_WITH(ragged3(), Catch::Contains("dim 1 has lengths 2 and 1"));
  auto ragged4 = [] { return Tensor{{{{1, 2}}}, {{{3, 4, 5}}}}; };
  CHECK_THROWS_WITH(ragged4(), Catch::Contains("dim 3 has lengths 2 and 3"));
}

// ---- element access ----

TEST_CASE("at() reads and writes, with negative indices from the end", "[tensor]") {
  Tensor t{{0, 1, 2}, {3, 4, 5}};
  CHECK(t.at({1, 2}) == 5.0f);
  CHECK(t.at({-1, -1}) == 5.0f);
  CHECK(t.at({-2, 0}) == 0.0f);
  t.at({-1, 0}) = 30;
  CHECK(t.at({1, 0}) == 30.0f);
  const Tensor& ct = t;
  CHECK(ct.at({1, 0}) == 30.0f);

  Tensor d = tg::zeros({2}, {.dtype = tg::kFloat64});
  d.at<double>({1}) = 0.1;
  CHECK(d.tolist()[1] == 0.1);

  Tensor s = tg::scalar(2);
  CHECK(s.at({}) == 2.0f);
}

TEST_CASE("at() out of bounds or with the wrong index count is a ValueError", "[tensor]") {
  Tensor t = tg::zeros({2, 3});
  CHECK_THROWS_AS(t.at({2, 0}), tg::ValueError);
  CHECK_THROWS_AS(t.at({0, -4}), tg::ValueError);
  CHECK_THROWS_WITH(t.at({0, 3}), Catch::Contains("index 3 is out of bounds for dim 1 with size 3"));
  CHECK_THROWS_AS(t.at({0}), tg::ValueError);
  CHECK_THROWS_AS(t.at({0, 0, 0}), tg::ValueError);
  CHECK_NOTHROW(t.at({-2, -3}));
}

TEST_CASE("item() converts one element and refuses more", "[tensor]") {
  CHECK(tg::scalar(3.25).item() == 3.25f);
  CHECK(tg::full({1, 1}, 0.1, {.dtype = tg::kFloat64}).item<double>() == 0.1);
  CHECK(tg::full({1}, 0.1).item<double>() == static_cast<double>(0.1f));
  CHECK_THROWS_AS(tg::zeros({2}).item(), tg::ValueError);
  CHECK_THROWS_WITH(tg::zeros({2, 3}).item(), Catch::Contains("shape [2, 3]"));
  CHECK_THROWS_AS(tg::zeros({0}).item(), tg::ValueError);
}

TEST_CASE("data<T>() with the wrong type is a ValueError", "[tensor]") {
  Tensor f = tg::zeros({2});
  CHECK(f.data<float>() == f.raw_data());
  CHECK_THROWS_AS(f.data<double>(), tg::ValueError);
  CHECK_THROWS_WITH(f.data<double>(), Catch::Contains("holds float32 but float64 was requested"));
  CHECK_THROWS_AS(tg::zeros({2}, {.dtype = tg::kFloat64}).data<float>(), tg::ValueError);
  CHECK_THROWS_AS(f.at<double>({0}), tg::ValueError);
}

TEST_CASE("size() accepts negative dims", "[tensor]") {
  Tensor t = tg::zeros({2, 3, 4});
  CHECK(t.size(0) == 2);
  CHECK(t.size(-1) == 4);
  CHECK(t.size(-3) == 2);
  CHECK_THROWS_AS(t.size(3), tg::ValueError);
}

// ---- in-place writes ----

TEST_CASE("index_put_ with slices is PyTorch's X[:, 2:6] = 0", "[tensor]") {
  Tensor X = tg::ones({6, 8});
  X.index_put_({Slice(), Slice(2, 6)}, 0);
  for (std::int64_t i = 0; i < 6; ++i)
    for (std::int64_t j = 0; j < 8; ++j) CHECK(X.at({i, j}) == (j >= 2 && j < 6 ? 0.0f : 1.0f));
}

TEST_CASE("index_put_ resolves negative starts, steps and out-of-range bounds like Python", "[tensor]") {
  // Expected values from torch 1.13:
  //   X = torch.zeros(4, 10); X[1:, -3:] = 1; X[::2, 1:8:3] = 2; X[-100:2, 8:100] = 3
  //   X[5:, :] = 4; X[:, 7:2] = 5; X[-1, -1:] = 6
  Tensor X = tg::zeros({4, 10});
  X.index_put_({Slice(1, std::nullopt), Slice(-3, std::nullopt)}, 1);
  X.index_put_({Slice(std::nullopt, std::nullopt, 2), Slice(1, 8, 3)}, 2);
  X.index_put_({Slice(-100, 2), Slice(8, 100)}, 3);
  X.index_put_({Slice(5, std::nullopt), Slice()}, 4);  // selects nothing
  X.index_put_({Slice(), Slice(7, 2)}, 5);             // selects nothing
  X.index_put_({Slice(-1, std::nullopt), Slice(-1, std::nullopt)}, 6);
  CHECK(values(X) == std::vector<double>{0, 2, 0, 0, 2, 0, 0, 2, 3, 3, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3,
                                         0, 2, 0, 0, 2, 0, 0, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 6});

  // Fewer slices than dims: the rest are taken whole. Y[1] = 7; Y[:, 1:, ::3] = 8
  Tensor Y = tg::zeros({2, 3, 4}, {.dtype = tg::kFloat64});
  Y.index_put_({Slice(1, 2)}, 7);
  Y.index_put_({Slice(), Slice(1, std::nullopt), Slice(std::nullopt, std::nullopt, 3)}, 8);
  CHECK(values(Y) == std::vector<double>{0, 0, 0, 0, 8, 0, 0, 8, 8, 0, 0, 8, 7, 7, 7, 7, 8, 7, 7, 8, 8, 7, 7, 8});
}

TEST_CASE("index_put_ rejects too many slices and non-positive steps", "[tensor]") {
  Tensor X = tg::zeros({2, 2});
  CHECK_THROWS_AS(X.index_put_({Slice(), Slice(), Slice()}, 1), tg::ValueError);
  CHECK_THROWS_AS(X.index_put_({Slice(std::nullopt, std::nullopt, 0)}, 1), tg::ValueError);
  CHECK_THROWS_AS(X.index_put_({Slice(std::nullopt, std::nullopt, -1)}, 1), tg::ValueError);
  CHECK(values(X) == std::vector<double>(4, 0.0));
}

TEST_CASE("fill_, zero_, copy_, add_ and mul_ write in place", "[tensor]") {
  Tensor t = tg::zeros({2, 3});
  const void* data = t.raw_data();
  t.fill_(2);
  CHECK(values(t) == std::vector<double>(6, 2.0));
  t.mul_(-1.5);
  CHECK(values(t) == std::vector<double>(6, -3.0));
  t.add_(Tensor{1, 2, 3}, 2);  // broadcast over the rows, scaled by alpha
  CHECK(values(t) == std::vector<double>{-1, 1, 3, -1, 1, 3});
  t.add_(tg::ones({2, 3}));
  CHECK(values(t) == std::vector<double>{0, 2, 4, 0, 2, 4});
  t.copy_(tg::from_vector({7, 8}, {2, 1}));  // broadcast to [2, 3]
  CHECK(values(t) == std::vector<double>{7, 7, 7, 8, 8, 8});
  t.copy_(tg::full({2, 3}, 0.5, {.dtype = tg::kFloat64}));  // converted to float32
  CHECK(t.dtype() == tg::kFloat32);
  CHECK(values(t) == std::vector<double>(6, 0.5));
  t.zero_();
  CHECK(values(t) == std::vector<double>(6, 0.0));
  CHECK(t.raw_data() == data);  // every write went to the same buffer
  CHECK_THROWS_AS(t.copy_(tg::zeros({4})), tg::ShapeError);
}

TEST_CASE("in-place writes to a tensor that requires grad need NoGradGuard", "[tensor][autograd]") {
  Tensor w = tg::ones({3}, {.requires_grad = true});
  CHECK_THROWS_AS(w.fill_(0), tg::AutogradError);
  CHECK_THROWS_AS(w.zero_(), tg::AutogradError);
  CHECK_THROWS_AS(w.mul_(2), tg::AutogradError);
  CHECK_THROWS_AS(w.add_(tg::ones({3})), tg::AutogradError);
  CHECK_THROWS_AS(w.copy_(tg::zeros({3})), tg::AutogradError);
  CHECK_THROWS_AS(w.index_put_({Slice(0, 1)}, 5), tg::AutogradError);
  CHECK_THROWS_WITH(w.fill_(0), Catch::Contains("NoGradGuard"));
  CHECK(values(w) == std::vector<double>(3, 1.0));  // nothing was written

  Tensor y = w * 2.0;  // a non-leaf: in-place arithmetic is recorded on it (test_inplace.cpp)
  CHECK_THROWS_AS(y.fill_(3), tg::AutogradError);  // but a fill is not

  {
    tg::NoGradGuard no_grad;
    w.mul_(2).add_(tg::ones({3}));
    w.index_put_({Slice(0, 1)}, 5);
  }
  CHECK(values(w) == std::vector<double>{5, 3, 3});
  CHECK(w.requires_grad());
  CHECK(tg::is_grad_enabled());  // the guard restored grad mode
  // A detached view may be written: it shares the data but not the history.
  w.detach().fill_(4);
  CHECK(values(w) == std::vector<double>(3, 4.0));
}

// ---- conversions, views and copies ----

TEST_CASE("to(kFloat64) converts the values and keeps the shape", "[tensor]") {
  Tensor f{{0.1, 0.2}, {0.3, 0.4}};
  Tensor d = f.to(tg::kFloat64);
  CHECK(d.dtype() == tg::kFloat64);
  CHECK(d.shape() == Shape{2, 2});
  CHECK(d.at<double>({0, 0}) == static_cast<double>(0.1f));
  CHECK(d.raw_data() != f.raw_data());
  CHECK(f.to(tg::kFloat32).raw_data() == f.raw_data());  // same dtype: the same tensor
  Tensor back = d.to(tg::kFloat32);
  CHECK(values(back) == values(f));
}

TEST_CASE("detach shares data and drops history, clone copies", "[tensor][autograd]") {
  Tensor x = tg::ones({2, 2}, {.requires_grad = true});
  Tensor d = x.detach();
  CHECK(!d.requires_grad());
  CHECK(d.is_leaf());
  CHECK(d.raw_data() == x.raw_data());
  d.at({0, 1}) = 9;
  CHECK(x.at({0, 1}) == 9.0f);

  Tensor c = x.clone();
  CHECK(c.raw_data() != x.raw_data());
  CHECK(values(c) == values(x));
  CHECK(c.requires_grad());  // clone is recorded
  CHECK(!c.is_leaf());
  Tensor plain = x.detach().clone();
  plain.fill_(-1);
  CHECK(x.at({0, 0}) == 1.0f);
}

TEST_CASE("reshape is a view of the same data", "[tensor]") {
  Tensor x = tg::arange(6);
  Tensor r = x.reshape({2, -1});
  CHECK(r.shape() == Shape{2, 3});
  CHECK(r.raw_data() == x.raw_data());
  r.at({1, 0}) = 30;
  CHECK(x.at({3}) == 30.0f);
  CHECK(x.reshape(Shape{3, 2}).at({1, 1}) == 30.0f);
  CHECK_THROWS_AS(x.reshape({4, 2}), tg::ShapeError);
}

TEST_CASE("an undefined tensor is an error wherever it is used", "[tensor]") {
  Tensor u;
  CHECK(!u.defined());
  CHECK_THROWS_AS(u.shape(), tg::ValueError);
  CHECK_THROWS_WITH(u.numel(), Catch::Contains("undefined"));
  CHECK_THROWS_AS(u.item(), tg::ValueError);
  CHECK_THROWS_AS(u.grad(), tg::ValueError);
  CHECK_THROWS_AS(u.backward(), tg::ValueError);
  CHECK_THROWS_AS(u.fill_(1), tg::ValueError);
  CHECK_THROWS_AS(u + tg::ones({2}), tg::ValueError);
  CHECK_THROWS_AS(tg::ones({2}).copy_(u), tg::ValueError);
  CHECK(tg::to_string(u) == "tensor(undefined)");
}

TEST_CASE("set_name names a tensor", "[tensor]") {
  Tensor x = tg::zeros({1});
  CHECK(x.name().empty());
  x.set_name("weight");
  CHECK(x.name() == "weight");
  CHECK(x.detach().name().empty());
}
