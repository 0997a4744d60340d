// SPDX-License-Identifier: MIT
// In-place safety: version counters (Note [version counters] in storage.hpp), recorded in-place
// arithmetic on tensors that are not leaves, and the post-accumulate-grad hook. The four cases
// at the top are the ones where a backward used to compute a wrong gradient silently; PyTorch
// raises "one of the variables needed for gradient computation has been modified by an
// inplace operation" in each, and so does tapegrad.
#include <cmath>
#include <string>
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/optim/adam.hpp"
#include "tapegrad/optim/sgd.hpp"
#include "test_util.hpp"

using tg::Slice;
using tg::Tensor;
using tg::test::MessageContains;

namespace {

std::vector<double> values(const Tensor& t) { return t.tolist(); }

bool near(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(std::abs(a[i] - b[i]) <= tol * (1 + std::abs(b[i])))) return false;
  return true;
}

const std::vector<std::string> kModified = {"modified by an inplace operation", "Hint:"};

std::vector<std::string> modified(std::vector<std::string> more) {
  more.insert(more.begin(), kModified.begin(), kModified.end());
  return more;
}

}  // namespace

// ---- the four cases ----

TEST_CASE("writing in place to an output that backward needs is caught, with or without grad mode",
          "[inplace][version]") {
  Tensor a = Tensor{0.0, 1.0, 2.0}.requires_grad_();
  // Recorded (b is not a leaf): sigmoid's backward reads b, which mul_ changed.
  Tensor b = tg::sigmoid(a);
  b.mul_(2);
  CHECK_THROWS_MATCHES(b.sum().backward(), tg::AutogradError,
                       MessageContains(modified({"sigmoid (tape entry #", "its output 0", "float32 tensor [3]",
                                                 "at version 0, and it is at version 1 now"})));
  CHECK(!a.grad().defined());  // nothing was accumulated

  // The same write inside a NoGradGuard (the advice the old error gave) is caught as well.
  Tensor c = tg::sigmoid(a);
  {
    tg::NoGradGuard no_grad;
    c.mul_(2);
  }
  CHECK_THROWS_MATCHES(c.sum().backward(), tg::AutogradError, MessageContains(modified({"sigmoid"})));

  // Out of place, the gradient is PyTorch's: 2 s (1 - s) = [0.5, 0.3932, 0.2100].
  Tensor d = tg::sigmoid(a) * 2;
  d.sum().backward();
  CHECK(near(values(a.grad()), {0.5, 0.39322386, 0.20998717}, 1e-6));
}

TEST_CASE("writing in place to an input that backward needs is caught", "[inplace][version]") {
  Tensor w = Tensor{1.0, 2.0}.requires_grad_();
  Tensor x = Tensor{3.0, 4.0};  // does not require grad: w's gradient reads it
  x.set_name("x");
  Tensor y = (w * x).sum();
  x.mul_(10);  // not recorded (x needs no gradient), but counted
  CHECK(x.version() == 1);
  CHECK_THROWS_MATCHES(
      y.backward(), tg::AutogradError,
      MessageContains(modified({"mul (tape entry #", "of those it saved ('x')", "at version 0", "at version 1 now"})));
  CHECK(!w.grad().defined());
}

TEST_CASE("an optimizer step between forward and backward is caught", "[inplace][version][optim]") {
  Tensor w = Tensor{1.0, -2.0}.requires_grad_();
  w.set_name("w");
  tg::SGD sgd({w}, 0.1);
  Tensor loss = (w * w).sum();  // mul saves w for its own gradient
  loss.backward(Tensor(), true);
  sgd.step();  // w changed in place: the graph still holds the old w
  CHECK(w.version() == 1);
  CHECK_THROWS_MATCHES(
      loss.backward(), tg::AutogradError,
      MessageContains(modified({"mul", "('w')", "at version 0, and it is at version 1 now", "an optimizer's step()"})));

  // Adam too (a GAN-style loop steps one network while another's graph is alive).
  Tensor v = Tensor{0.5}.requires_grad_();
  tg::Adam adam({v}, 0.01);
  Tensor l2 = tg::exp(v).sum();  // exp saves its output, not v: v may change...
  Tensor l3 = (v * v).sum();     // ...but mul saved v itself
  l3.backward(Tensor(), true);
  adam.step();
  l2.backward();  // fine: exp's saved output was not written
  CHECK(v.grad().defined());
  CHECK_THROWS_AS(l3.backward(), tg::AutogradError);
}

TEST_CASE("at() writes are refused in grad mode on a tensor that requires grad, and counted elsewhere",
          "[inplace][version]") {
  Tensor w = Tensor{1.0, 2.0}.requires_grad_();
  CHECK_THROWS_MATCHES(w.at({0}) = 100.0f, tg::AutogradError, MessageContains({"at", "requires grad", "NoGradGuard"}));
  CHECK(values(w) == std::vector<double>{1, 2});  // nothing was written
  CHECK(w.version() == 0);

  Tensor y = (w * w).sum();
  {
    tg::NoGradGuard no_grad;
    w.at({0}) = 100.0f;  // allowed here, and counted
  }
  CHECK(w.version() == 1);
  CHECK(values(w) == std::vector<double>{100, 2});
  CHECK_THROWS_MATCHES(y.backward(), tg::AutogradError, MessageContains(modified({"mul"})));
}

// ---- the counter itself ----

TEST_CASE("every in-place write counts once in the version", "[inplace][version]") {
  Tensor t = tg::zeros({2, 3});
  std::uint32_t v = t.version();
  CHECK(v == 0);
  auto counts_once = [&](auto write) {
    write();
    CHECK(t.version() == ++v);
  };
  counts_once([&] { t.fill_(1); });
  counts_once([&] { t.zero_(); });
  counts_once([&] { t.copy_(tg::ones({3})); });
  counts_once([&] { t.index_put_({Slice(), Slice(0, 2)}, 5); });
  counts_once([&] { t.at({1, 2}) = 7.0f; });
  counts_once([&] { t.add_(1); });
  counts_once([&] { t.sub_(tg::ones({3})); });
  counts_once([&] { t.mul_(2); });
  counts_once([&] { t.div_(2); });
  counts_once([&] { t.relu_(); });
  counts_once([&] { t += 1; });
  counts_once([&] { t -= 1; });
  counts_once([&] { t *= tg::ones({2, 1}); });
  counts_once([&] { t /= 4; });
  counts_once([&] { t.bump_version(); });  // after a write through raw_data()
  // Reads do not count.
  (void)t.sum();
  (void)t.at({0, 0});
  (void)values(t);
  CHECK(t.version() == v);
}

TEST_CASE("views and detach() share the version counter, clone() has its own", "[inplace][version]") {
  Tensor t = tg::ones({2, 3});
  Tensor view = t.reshape({6});
  Tensor flat = tg::flatten(t, 0);
  Tensor detached = t.detach();
  Tensor copy = t.clone();
  view.fill_(2);
  CHECK(t.version() == 1);
  CHECK(flat.version() == 1);
  CHECK(detached.version() == 1);
  detached.mul_(3);
  CHECK(t.version() == 2);
  CHECK(view.version() == 2);
  CHECK(values(t) == std::vector<double>(6, 6.0));
  CHECK(copy.version() == 0);
  CHECK(values(copy) == std::vector<double>(6, 1.0));

  // A saved tensor written through its detached alias is caught.
  Tensor a = Tensor{1.0, 2.0}.requires_grad_();
  Tensor e = tg::exp(a);  // saves its output
  Tensor out = e.sum();
  {
    tg::NoGradGuard no_grad;
    e.detach().add_(1);
  }
  CHECK_THROWS_MATCHES(out.backward(), tg::AutogradError, MessageContains(modified({"exp"})));
}

TEST_CASE("optimizer steps and zero_grad count in the parameter's version", "[inplace][version][optim]") {
  Tensor w = Tensor{1.0, 2.0}.requires_grad_();
  tg::SGD sgd({w}, 0.5, 0.9);
  (w * w).sum().backward();
  sgd.step();
  CHECK(w.version() == 1);
  CHECK(values(w) == std::vector<double>{0, 0});  // w - 0.5 * 2w
  sgd.zero_grad();                                // set_to_none: the parameter itself is not written
  CHECK(w.version() == 1);
}

// ---- recorded in-place arithmetic ----

TEST_CASE("Y += X on a tensor that is not a leaf is recorded: the residual block", "[inplace][autograd]") {
  // The book's residual block: Y = bn2(conv2(relu(bn1(conv1(X))))); Y += X; return relu(Y),
  // with a matmul in place of the convolutions (neither saves its output).
  Tensor x = Tensor{{1.0, -2.0}, {3.0, 0.5}}.requires_grad_();
  Tensor w = Tensor{{2.0, 1.0}, {-1.0, 3.0}}.requires_grad_();
  Tensor y = tg::matmul(x, w);
  y += x;
  CHECK_THAT(tg::to_string(y), Catch::Contains("grad_fn=<AddBackward0>"));
  y = tg::relu(y);
  Tensor loss = (y * y).sum();
  loss.backward();

  // The same network out of place.
  Tensor x2 = x.detach().requires_grad_(), w2 = w.detach().requires_grad_();
  Tensor y2 = tg::relu(tg::matmul(x2, w2) + x2);
  (y2 * y2).sum().backward();
  CHECK(values(y) == values(y2));
  CHECK(near(values(x.grad()), values(x2.grad()), 1e-6));
  CHECK(near(values(w.grad()), values(w2.grad()), 1e-6));

  // After relu, whose backward reads its output, the same += is caught (as in PyTorch).
  Tensor z = tg::relu(tg::matmul(x, w));
  z += x;
  CHECK_THROWS_MATCHES(z.sum().backward(), tg::AutogradError, MessageContains(modified({"relu", "its output 0"})));
}

TEST_CASE("in-place arithmetic follows its out-of-place op's gradient", "[inplace][autograd]") {
  Tensor a = Tensor{-1.0, 0.5, 2.0}.to(tg::kFloat64).requires_grad_();
  Tensor b = Tensor{2.0, -3.0, 4.0}.to(tg::kFloat64).requires_grad_();
  auto in_place = [](const std::vector<Tensor>& v) {
    Tensor y = v[0] * 1.5;  // a tensor that is not a leaf
    y.add_(v[1]);
    y.mul_(v[1]);
    y.sub_(0.25);
    y.div_(v[1] * v[1] + 1);
    y *= 3;
    y -= v[0];
    y /= 2;
    y.relu_();  // last: its backward reads its output, which a later write would change
    return y.sum();
  };
  auto out_of_place = [](const std::vector<Tensor>& v) {
    Tensor y = v[0] * 1.5;
    y = y + v[1];
    y = y * v[1];
    y = y - 0.25;
    y = y / (v[1] * v[1] + 1);
    y = y * 3;
    y = y - v[0];
    y = y / 2;
    y = tg::relu(y);
    return y.sum();
  };
  CHECK(tg::gradcheck(in_place, {a, b}).ok);
  in_place({a, b}).backward();
  Tensor ga = a.grad().clone(), gb = b.grad().clone();
  a.set_grad(Tensor()), b.set_grad(Tensor());
  out_of_place({a, b}).backward();
  CHECK(near(values(ga), values(a.grad()), 1e-12));
  CHECK(near(values(gb), values(b.grad()), 1e-12));
}

TEST_CASE("in-place arithmetic has its out-of-place op's second derivatives", "[inplace][autograd][higher_order]") {
  // The chain above, differentiated twice (create_graph): mul_ and div_ reach y_before's
  // history through their copy of it (Note [y_before] in inplace.cpp), so that the cross
  // terms d2/da db are there.
  Tensor a = Tensor{-1.0, 0.5, 2.0}.to(tg::kFloat64).requires_grad_();
  Tensor b = Tensor{2.0, -3.0, 4.0}.to(tg::kFloat64).requires_grad_();
  auto in_place = [](const Tensor& x, const Tensor& w) {
    Tensor y = x * 1.5;
    y.mul_(w);
    y.add_(w);
    y.div_(w * w + 1);
    y *= 3;
    return y.sum();
  };
  auto out_of_place = [](const Tensor& x, const Tensor& w) { return (((x * 1.5) * w + w) / (w * w + 1) * 3).sum(); };
  std::vector<Tensor> hessian_rows[2];
  for (int k = 0; k < 2; ++k) {
    auto f = k == 0 ? +in_place : +out_of_place;
    std::vector<Tensor> g = tg::grad({f(a, b)}, {a, b}, {.create_graph = true});
    hessian_rows[k] = tg::grad({g[0].sum() + g[1].sum()}, {a, b});
  }
  CHECK(near(values(hessian_rows[0][0]), values(hessian_rows[1][0]), 1e-12));
  CHECK(near(values(hessian_rows[0][1]), values(hessian_rows[1][1]), 1e-12));
  auto f = [&](const std::vector<Tensor>& v) { return in_place(v[0], v[1]); };
  CHECK(tg::gradgradcheck(f, {a, b}).ok);
}

TEST_CASE("mul_ and div_ leave nothing on the tape of a graph that is never backpropagated",
          "[inplace][autograd][tape]") {
  // Their copy of y_before carries its history without a tape entry of its own (an entry that
  // would hold y, whose entry holds the copy: a cycle that pruning could never free).
  Tensor w = tg::ones({8}, {.dtype = tg::kFloat64, .requires_grad = true});
  tg::Tape& tape = tg::Tape::current();
  const std::size_t before = tape.size();
  for (int i = 0; i < 5000; ++i) {  // 15000 entries, pruned as their results are dropped
    Tensor y = w * 2.0;
    y *= w;
    y /= w;
  }
  CHECK(tape.size() < before + 3000);
}

TEST_CASE("writing in place to a result that backward does not read is allowed, as in PyTorch", "[inplace][autograd]") {
  // PyTorch's mul, div, add and matmul save their inputs, not their result.
  Tensor a = Tensor{1.0, 2.0}.to(tg::kFloat64).requires_grad_();
  Tensor b = Tensor{4.0, -2.0}.to(tg::kFloat64).requires_grad_();
  Tensor y = a / b;
  y += 1;
  y *= a;
  y.sum().backward();
  // y = (a / b + 1) a: dy/da = 2a / b + 1, dy/db = -a^2 / b^2.
  CHECK(near(values(a.grad()), {2 * 1.0 / 4 + 1, 2 * 2.0 / -2 + 1}, 1e-12));
  CHECK(near(values(b.grad()), {-1.0 / 16, -4.0 / 4}, 1e-12));
}

TEST_CASE("in-place arithmetic on a leaf that requires grad is refused, and writes nothing", "[inplace][autograd]") {
  Tensor w = Tensor{1.0, 2.0}.requires_grad_();
  CHECK_THROWS_MATCHES(w += 1, tg::AutogradError,
                       MessageContains({"add_", "a leaf tensor [2] that requires grad", "compute a new tensor"}));
  CHECK_THROWS_AS(w.mul_(Tensor{2.0, 2.0}), tg::AutogradError);
  CHECK_THROWS_AS(w.relu_(), tg::AutogradError);
  CHECK(values(w) == std::vector<double>{1, 2});
  CHECK(w.version() == 0);
  // A tensor that shares its data with another cannot be written by a recorded op.
  Tensor y = w * 2;
  Tensor view = y.reshape({2, 1});
  CHECK_THROWS_MATCHES(y.add_(1), tg::AutogradError, MessageContains({"shares its data", "clone()"}));
  (void)view;
}

// ---- the post-accumulate-grad hook ----

namespace {

// Logs when its backward runs, so that a test can see the order of events in one sweep.
struct Logged : tg::Function<Logged> {
  static constexpr const char* name = "logged";
  static inline std::vector<std::string>* log = nullptr;
  static Tensor forward(tg::AutogradContext&, const Tensor& x) { return x * 1; }
  static std::vector<Tensor> backward(tg::AutogradContext&, const std::vector<Tensor>& g) {
    log->push_back("logged backward");
    return {g[0]};
  }
};

}  // namespace

TEST_CASE("a post-accumulate-grad hook fires during the sweep, once the leaf's gradient is complete",
          "[hooks][inplace]") {
  std::vector<std::string> log;
  Logged::log = &log;
  Tensor a = Tensor{1.0, 2.0}.requires_grad_();
  Tensor b = Tensor{3.0, 4.0}.requires_grad_();
  std::vector<double> seen;
  a.register_post_accumulate_grad_hook([&](Tensor& leaf) {
    log.push_back("a complete");
    seen = values(leaf.grad());
  });
  Tensor early = Logged::apply(b);       // entry 0: its backward runs last
  Tensor y = (early * a + a * a).sum();  // a's uses all come after it
  y.backward();
  REQUIRE(log.size() == 2);
  CHECK(log[0] == "a complete");  // before the sweep reached entry 0
  CHECK(log[1] == "logged backward");
  CHECK(seen == std::vector<double>{3 + 2, 4 + 4});  // b + 2a: both uses summed
  CHECK(values(a.grad()) == seen);
  Logged::log = nullptr;
}

TEST_CASE("a post-accumulate-grad hook may step the parameter it is on", "[hooks][inplace][optim]") {
  // PyTorch's use: an optimizer step per parameter inside backward, freeing its gradient early.
  Tensor w = Tensor{1.0, 2.0}.requires_grad_();
  Tensor x = Tensor{3.0, 4.0}.requires_grad_();
  w.register_post_accumulate_grad_hook([](Tensor& p) {
    tg::NoGradGuard no_grad;
    p.sub_(p.grad() * 0.1);
    p.set_grad(Tensor());
  });
  Tensor y = tg::exp(x).sum() + (w * 2).sum();  // nothing saved w
  y.backward();
  CHECK(near(values(w), {0.8, 1.8}, 1e-6));
  CHECK(!w.grad().defined());
  CHECK(w.version() == 1);
  CHECK(x.grad().defined());
}
