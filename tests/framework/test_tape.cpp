// SPDX-License-Identifier: MIT
// The tape: what is recorded, backward() and its seeds, accumulation, freeing, pruning,
// and one tape per thread.
#include <algorithm>
#include <cmath>
#include <functional>
#include <thread>

#include "test_util.hpp"

using tg::Tape;
using tg::Tensor;

namespace {

std::vector<double> values(const Tensor& t) { return t.tolist(); }

}  // namespace

TEST_CASE("nothing is recorded under NoGradGuard or when no input requires grad", "[tape]") {
  Tape& tape = Tape::current();
  Tensor x = tg::ones({3}, {.requires_grad = true});
  Tensor c = tg::ones({3});
  std::size_t before = tape.size();
  {
    tg::NoGradGuard no_grad;
    CHECK(!tg::is_grad_enabled());
    Tensor y = x * 2.0 + x;
    CHECK(!y.requires_grad());
    CHECK(y.is_leaf());
    { tg::NoGradGuard nested; }
    CHECK(!tg::is_grad_enabled());  // the inner guard restored "off", not "on"
  }
  CHECK(tg::is_grad_enabled());
  Tensor z = (c * 2.0 + c).exp().sum();
  CHECK(!z.requires_grad());
  CHECK(tape.size() == before);

  tg::set_grad_enabled(false);
  Tensor w = x * x;
  tg::set_grad_enabled(true);
  CHECK(!w.requires_grad());
  CHECK(tape.size() == before);

  Tensor y = x * c;
  CHECK(tape.size() == before + 1);
  CHECK(tg::test::op_name() == "mul");
  const tg::TapeEntry& e = tape.entry(tape.size() - 1);
  CHECK(e.outputs[0].tensor.lock() == y.impl_ptr());
  CHECK(e.inputs[0].tensor.impl_ptr() == x.impl_ptr());
  CHECK(!e.inputs[1].tensor.defined());  // c needs no gradient
  CHECK(y.requires_grad());
  CHECK(!y.is_leaf());
}

TEST_CASE("loss.backward() seeds a scalar with 1", "[tape]") {
  Tensor x{1, 2, 3};
  x.requires_grad_();
  Tensor loss = (x * x).sum();
  loss.backward();
  CHECK(values(x.grad()) == std::vector<double>{2, 4, 6});
  CHECK(!loss.grad().defined());  // a non-leaf keeps no gradient unless asked

  // A leaf that is itself the root gets the seed as its gradient.
  Tensor s = tg::scalar(5, {.requires_grad = true});
  s.backward();
  CHECK(s.grad().item() == 1.0f);
}

TEST_CASE("y.backward(seed) computes the vector-Jacobian product", "[tape]") {
  Tensor x = Tensor{1, 2, 3}.requires_grad_();
  Tensor y = x * x;
  Tensor seed{1, 0.5, -1};
  y.backward(seed);
  CHECK(values(x.grad()) == std::vector<double>{2, 2, -6});
  // The gradient is a copy: changing the seed afterwards changes nothing.
  seed.fill_(100);
  CHECK(values(x.grad()) == std::vector<double>{2, 2, -6});

  Tensor d = tg::zeros({2, 2}, {.dtype = tg::kFloat64, .requires_grad = true});
  (d + 1.0).backward(tg::ones({2, 2}));  // a float32 seed for a float64 root is converted
  CHECK(d.grad().dtype() == tg::kFloat64);
  CHECK(values(d.grad()) == std::vector<double>(4, 1.0));
}

TEST_CASE("backward of a non-scalar without a seed, or with a seed of the wrong shape, is an error", "[tape]") {
  Tensor x = tg::ones({2, 3}, {.requires_grad = true});
  Tensor y = x * 2.0;
  CHECK_THROWS_AS(y.backward(), tg::AutogradError);
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("only for a one-element tensor") && Catch::Contains("[2, 3]") &&
                                      Catch::Contains("ones_like"));
  CHECK_THROWS_AS(y.backward(tg::ones({3, 2})), tg::ShapeError);
  CHECK_THROWS_WITH(y.backward(tg::ones({6})),
                    Catch::Contains("seed gradient has shape [6]") && Catch::Contains("has shape [2, 3]"));
  CHECK(!x.grad().defined());    // the failed calls changed nothing
  y.backward(tg::ones({2, 3}));  // and the graph is still there
  CHECK(values(x.grad()) == std::vector<double>(6, 2.0));
}

TEST_CASE("gradients accumulate across backward calls until cleared", "[tape]") {
  Tensor x = Tensor{1, -2}.requires_grad_();
  auto loss = [&] { return (x * 3.0).sum(); };
  loss().backward();
  CHECK(values(x.grad()) == std::vector<double>{3, 3});
  loss().backward();
  CHECK(values(x.grad()) == std::vector<double>{6, 6});

  x.grad().zero_();  // zero_grad(set_to_none=False)
  loss().backward();
  CHECK(values(x.grad()) == std::vector<double>{3, 3});

  x.set_grad(Tensor());  // x.grad = None
  CHECK(!x.grad().defined());
  loss().backward();
  CHECK(values(x.grad()) == std::vector<double>{3, 3});

  tg::SGD optimizer({x}, 0.1);
  optimizer.zero_grad();
  CHECK(!x.grad().defined());
  (x * x).sum().backward();
  CHECK(values(x.grad()) == std::vector<double>{2, -4});

  CHECK_THROWS_AS(x.set_grad(tg::ones({3})), tg::ShapeError);
}

TEST_CASE("retain_graph allows a second backward, without it the second one throws", "[tape]") {
  Tensor x = Tensor{1, 2}.requires_grad_();
  Tensor loss = (x * x).sum();
  loss.backward({}, true);
  CHECK(values(x.grad()) == std::vector<double>{2, 4});
  loss.backward();  // the graph was retained: grads add up
  CHECK(values(x.grad()) == std::vector<double>{4, 8});
  CHECK_THROWS_AS(loss.backward(), tg::AutogradError);
  CHECK_THROWS_WITH(loss.backward(), Catch::Contains("second time") && Catch::Contains("retain_graph"));
  CHECK(values(x.grad()) == std::vector<double>{4, 8});
}

TEST_CASE("backward through an intermediate whose graph was freed throws", "[tape]") {
  Tensor x = Tensor{1, 2}.requires_grad_();
  Tensor y = x * x;
  y.sum().backward();
  CHECK(values(x.grad()) == std::vector<double>{2, 4});
  Tensor z = (y * 3.0).sum();  // recorded now, but y's own entry is gone
  CHECK_THROWS_AS(z.backward(), tg::AutogradError);
  CHECK_THROWS_WITH(z.backward(), Catch::Contains("intermediate") && Catch::Contains("retain_graph"));
  CHECK(values(x.grad()) == std::vector<double>{2, 4});  // nothing was accumulated
}

TEST_CASE("backward of a tensor that does not require grad throws", "[tape]") {
  Tensor a = tg::ones({1});
  CHECK_THROWS_AS(a.backward(), tg::AutogradError);
  CHECK_THROWS_WITH((a * 2.0).sum().backward(), Catch::Contains("does not require grad"));
}

TEST_CASE("detach() cuts the graph", "[tape]") {
  Tensor x = Tensor{1, 2}.requires_grad_();
  Tensor w = Tensor{3, 4}.requires_grad_();
  Tensor y = x * 2.0;
  Tensor loss = (y.detach() * w).sum();
  loss.backward();
  CHECK(!x.grad().defined());
  CHECK(values(w.grad()) == std::vector<double>{2, 4});
  CHECK_THROWS_AS((y.detach() * 3.0).sum().backward(), tg::AutogradError);
}

TEST_CASE("requires_grad_() turns leaves on and off, but not computed tensors", "[tape]") {
  Tensor x = tg::full({2}, 2);
  CHECK(!x.requires_grad());
  CHECK(x.requires_grad_().requires_grad());
  (x * 3.0).sum().backward();
  CHECK(values(x.grad()) == std::vector<double>{3, 3});

  Tensor y = x * 3.0;
  CHECK_THROWS_AS(y.requires_grad_(false), tg::AutogradError);
  CHECK_THROWS_WITH(y.requires_grad_(false), Catch::Contains("detach()"));

  x.requires_grad_(false);
  std::size_t before = Tape::current().size();
  CHECK(!(x * 3.0).requires_grad());
  CHECK(Tape::current().size() == before);
}

TEST_CASE("a tensor used several times gets the sum of its gradients", "[tape]") {
  Tensor x = Tensor{1, 2, 3}.requires_grad_();
  (x * x + x).sum().backward();  // d/dx (x^2 + x) = 2x + 1
  CHECK(values(x.grad()) == std::vector<double>{3, 5, 7});

  Tensor a = Tensor{2}.requires_grad_();
  Tensor b = a * a;              // a^2
  (b * b * a).sum().backward();  // a^5 -> 5 a^4 = 80
  CHECK(a.grad().item() == 80.0f);
}

TEST_CASE("retain_grad() keeps the gradient of an intermediate", "[tape]") {
  Tensor x = Tensor{1, 2}.requires_grad_();
  Tensor y = x * x;
  Tensor u = y * 1.0;
  y.retain_grad();
  Tensor loss = (u * 3.0).sum();
  loss.backward({}, true);
  REQUIRE(y.grad().defined());
  CHECK(values(y.grad()) == std::vector<double>{3, 3});
  CHECK(!u.grad().defined());
  CHECK(values(x.grad()) == std::vector<double>{6, 12});
  loss.backward();
  CHECK(values(y.grad()) == std::vector<double>{6, 6});  // accumulates like a leaf's

  CHECK_THROWS_AS(tg::ones({1}).retain_grad(), tg::AutogradError);
}

TEST_CASE("backward frees what it used: the tape returns to its previous size", "[tape]") {
  Tape& tape = Tape::current();
  std::size_t before = tape.size();
  Tensor x = tg::ones({4}, {.requires_grad = true});
  Tensor other = x * 5.0;  // not part of the loss: must survive the backward below
  Tensor loss = ((x * 2.0).exp() + x).mean();
  CHECK(tape.size() == before + 5);
  loss.backward();
  CHECK(tape.size() == before + 1);
  other.sum().backward();
  CHECK(tape.size() == before);
  CHECK(x.grad().defined());
}

TEST_CASE("a 1,000-step training loop keeps the tape flat", "[tape]") {
  // Start from an empty tape, so that dead entries left by earlier tests cannot be pruned
  // in the middle of the loop and make its size move.
  Tape& tape = Tape::current();
  tape.clear();
  Tensor X = tg::test::edge_image();
  Tensor Y = tg::corr2d(X, Tensor{{1, -1}});
  tg::Generator gen(0);
  tg::Conv2D conv({1, 2}, gen);
  tg::SGD optimizer(conv.parameters(), 0.01);
  std::vector<std::size_t> sizes;
  Tensor loss;
  for (int step = 0; step < 1000; ++step) {
    loss = (conv(X) - Y).square().sum();
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    sizes.push_back(tape.size());
  }
  CHECK(*std::min_element(sizes.begin(), sizes.end()) == 0);
  CHECK(*std::max_element(sizes.begin(), sizes.end()) == 0);
  CHECK(loss.item() < 1e-6f);  // and it learned the edge detector
  CHECK(conv.weight.at({0, 0}) == Approx(1).margin(1e-3));
  CHECK(conv.weight.at({0, 1}) == Approx(-1).margin(1e-3));
}

TEST_CASE("results computed and thrown away do not make the tape grow without bound", "[tape]") {
  Tape& tape = Tape::current();
  Tensor x = tg::ones({4}, {.requires_grad = true});
  {
    // A long graph first: the tape grows to 5,000 live entries, then backward() frees them.
    Tensor y = x;
    for (int i = 0; i < 5000; ++i) y = y * 1.0;
    y.sum().backward();
  }
  x.set_grad(Tensor());
  std::size_t base = tape.size();
  Tensor keep = (x * 3.0).sum();  // a live result among the dead ones
  std::size_t peak = 0;
  for (int i = 0; i < 5000; ++i) {
    Tensor discarded = (x * 2.0).sum();
    peak = std::max(peak, tape.size());
  }
  // Without pruning the tape would hold 10,002 more entries; the prune threshold follows
  // what is live (here 2 entries), not the 5,000 entries of the earlier graph.
  CHECK(peak <= base + 2048);
  CHECK(tape.size() <= base + 2048);
  keep.backward();  // pruning kept what is still reachable
  CHECK(values(x.grad()) == std::vector<double>(4, 3.0));
}

TEST_CASE("no op keeps its own discarded result alive on the tape", "[tape]") {
  // An entry is pruned once its output is gone; an op that saved its output itself (not a
  // detached copy) for backward would keep the entry alive forever.
  Tape& tape = Tape::current();
  Tensor x = tg::full({2, 3}, 0.5, {.requires_grad = true});
  Tensor k = tg::full({2, 2}, 0.25, {.requires_grad = true});
  Tensor col = tg::ones({3, 1}, {.requires_grad = true});
  using Op = std::function<Tensor()>;
  std::vector<std::pair<std::string, Op>> ops = {
      {"exp", [&] { return x.exp(); }},
      {"log", [&] { return x.log(); }},
      {"relu", [&] { return x.relu(); }},
      {"sigmoid", [&] { return x.sigmoid(); }},
      {"tanh", [&] { return x.tanh(); }},
      {"pow", [&] { return x.pow(3); }},
      {"square", [&] { return x.square(); }},
      {"div", [&] { return 1.0 / x; }},
      {"sub", [&] { return x - col.t(); }},
      {"neg", [&] { return -x; }},
      {"sum", [&] { return x.sum(1); }},
      {"mean", [&] { return x.mean(); }},
      {"matmul", [&] { return x.matmul(col); }},
      {"reshape",
       [&] {
         return x.reshape({3, 2});
       }},
      {"transpose", [&] { return x.t(); }},
      {"permute",
       [&] {
         return x.permute({1, 0});
       }},
      {"expand",
       [&] {
         return tg::expand(col, {3, 4});
       }},
      {"sum_to",
       [&] {
         return tg::sum_to(x, {1, 3});
       }},
      {"corr2d", [&] { return tg::corr2d(x, k); }},
      {"clone", [&] { return x.clone(); }},
      {"to", [&] { return x.to(tg::kFloat64); }},
  };
  for (const auto& [name, op] : ops) {
    INFO(name);
    CHECK(op().requires_grad());
    std::size_t base = tape.size(), peak = 0;
    for (int i = 0; i < 3000; ++i) {
      Tensor discarded = op();
      peak = std::max(peak, tape.size());
    }
    CHECK(peak <= base + 2 * 1024);
  }
}

TEST_CASE("Tape::clear() then backward is a clear error", "[tape]") {
  Tape& tape = Tape::current();
  Tensor x = Tensor{1, 2}.requires_grad_();
  Tensor mid = x * 2.0;
  Tensor loss = mid.sum();
  tape.clear();
  CHECK(tape.size() == 0);
  CHECK_THROWS_AS(loss.backward(), tg::AutogradError);
  CHECK_THROWS_WITH(loss.backward(), Catch::Contains("not on this thread's tape") && Catch::Contains("cleared"));
  Tensor later = (mid * 3.0).sum();  // recorded after the clear, on top of a cleared tensor
  CHECK_THROWS_WITH(later.backward(), Catch::Contains("cleared") && Catch::Contains("mul"));
  CHECK(!x.grad().defined());
}

TEST_CASE("a 100,000-op chain runs backward without recursion", "[tape][slow]") {
  Tensor x = tg::full({2}, 1.0, {.requires_grad = true});
  const float factor = 1.00001f;
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * static_cast<double>(factor);
  std::size_t before = Tape::current().size();
  y.sum().backward();
  CHECK(Tape::current().size() < before);
  double expected = std::pow(static_cast<double>(factor), 100000);  // about e
  CHECK(x.grad().at({0}) == Approx(expected).epsilon(1e-3));
  CHECK(y.at({1}) == Approx(expected).epsilon(1e-3));
}

TEST_CASE("a tensor computed on one thread cannot be backpropagated on another", "[tape][thread]") {
  Tensor x = Tensor{1, 2}.requires_grad_();

  Tensor y;
  std::thread([&] { y = x * 2.0; }).join();
  REQUIRE(y.requires_grad());
  CHECK_THROWS_AS(y.backward(tg::ones({2})), tg::AutogradError);
  CHECK_THROWS_WITH(y.backward(tg::ones({2})), Catch::Contains("another thread"));
  CHECK_THROWS_WITH(y.sum().backward(), Catch::Contains("another thread") && Catch::Contains("sum"));

  Tensor loss = (x * 3.0).sum();
  std::string error;
  std::thread([&] {
    try {
      loss.backward();
    } catch (const tg::AutogradError& e) {
      error = e.what();
    }
  }).join();
  CHECK_THAT(error, Catch::Contains("another thread"));
  CHECK(!x.grad().defined());
  loss.backward();  // on its own thread it works
  CHECK(values(x.grad()) == std::vector<double>{3, 3});
}

TEST_CASE("each thread records on its own tape and has its own grad mode", "[tape][thread]") {
  std::size_t main_size = Tape::current().size();
  std::vector<double> grads[2];
  std::size_t sizes[2] = {1, 1};
  bool grad_enabled[2] = {false, false};
  tg::NoGradGuard no_grad_here;  // does not reach the worker threads
  auto train = [&](int k) {
    grad_enabled[k] = tg::is_grad_enabled();
    Tensor w = tg::full({3}, k + 1.0, {.requires_grad = true});
    for (int step = 0; step < 50; ++step) (w * w).sum().backward();
    grads[k] = w.grad().tolist();
    sizes[k] = Tape::current().size();
  };
  std::thread a(train, 0), b(train, 1);
  a.join();
  b.join();
  CHECK(grad_enabled[0]);
  CHECK(grad_enabled[1]);
  CHECK(grads[0] == std::vector<double>(3, 100.0));  // 50 * 2w with w = 1
  CHECK(grads[1] == std::vector<double>(3, 200.0));
  CHECK(sizes[0] == 0);
  CHECK(sizes[1] == 0);
  CHECK(Tape::current().size() == main_size);
}

TEST_CASE("an entry saves only the tensors its gradients read", "[tape]") {
  // corr2d's dX reads K and dK reads X: with only K requiring grad, the entry keeps K as
  // the input to route dK to, and X for the formula, but no extra copy of K.
  Tensor X = tg::ones({4, 4});
  Tensor K = tg::ones({2, 2}).requires_grad_();
  long x_before = X.impl_ptr().use_count(), k_before = K.impl_ptr().use_count();
  Tensor Y = tg::corr2d(X, K);
  CHECK(X.impl_ptr().use_count() == x_before + 1);  // saved by the closure for dK
  CHECK(K.impl_ptr().use_count() == k_before + 1);  // the entry's input list only
  Y.sum().backward();
  CHECK(X.impl_ptr().use_count() == x_before);  // all released with the entry
  CHECK(K.impl_ptr().use_count() == k_before);
}

TEST_CASE("queue_callback runs once backward has delivered every leaf's gradient", "[tape]") {
  using tg::Tensor;
  Tensor a = tg::tensor({1.0, 2.0}).requires_grad_();
  Tensor b = tg::tensor({3.0}).requires_grad_();
  std::vector<std::string> events;
  a.register_post_accumulate_grad_hook([&](Tensor&) {
    events.push_back("a");
    tg::Tape::current().queue_callback([&] {
      // By now both leaves have their gradients, and the sweep is over.
      events.push_back(fmt::format("end a={} b={}", a.grad().tolist()[1], b.grad().tolist()[0]));
      tg::Tape::current().queue_callback([&] { events.push_back("queued by a callback"); });
    });
  });
  b.register_post_accumulate_grad_hook([&](Tensor&) { events.push_back("b"); });
  ((a * b).sum() + b.sum()).backward();
  REQUIRE(events.size() == 4);
  CHECK(events[2] == "end a=3 b=4");
  CHECK(events[3] == "queued by a callback");
  // Each backward starts with no callbacks: the next one runs only what its own hooks queue.
  events.clear();
  (a.sum() * 2).backward();
  CHECK(events == std::vector<std::string>{"a", "end a=5 b=4", "queued by a callback"});
  // Outside a backward there is nothing to queue on.
  CHECK_THROWS_WITH(tg::Tape::current().queue_callback([] {}),
                    Catch::Contains("queue_callback") && Catch::Contains("no backward()"));
  // A callback that throws ends backward with its exception.
  a.register_hook([](const Tensor& g) {
    tg::Tape::current().queue_callback([] { throw tg::ValueError("from the callback"); });
    return g;
  });
  CHECK_THROWS_WITH(a.sum().backward(), "from the callback");
}
