// SPDX-License-Identifier: MIT
// Two user threads: independent models trained at the same time give bit for bit the results
// of the same runs done one after another, and a tensor computed on one thread's tape is a
// clear error on another, never a read of the first thread's graph. The ThreadSanitizer
// build runs these (scripts/tsan.sh).
#include <array>
#include <cmath>
#include <cstring>
#include <exception>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

using tg::Tensor;

namespace {

// Every parameter and buffer of a trained model, as raw bytes, by name.
using Snapshot = std::vector<std::pair<std::string, std::string>>;

Snapshot snapshot(const tg::Module& model) {
  Snapshot out;
  for (const auto& [name, t] : model.state_dict()) {
    const auto* bytes = static_cast<const char*>(t.raw_data());
    out.emplace_back(name, std::string(bytes, bytes + t.numel() * static_cast<std::int64_t>(tg::itemsize(t.dtype()))));
  }
  return out;
}

// memcmp of every tensor; the name of the first that differs, or "" when all match.
std::string first_difference(const Snapshot& a, const Snapshot& b) {
  if (a.size() != b.size()) return "the number of tensors";
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || a[i].second.size() != b[i].second.size() ||
        std::memcmp(a[i].second.data(), b[i].second.data(), a[i].second.size()) != 0)
      return a[i].first;
  }
  return "";
}

// The data both models learn from, made once and shared read-only by both threads: leaves
// that do not require grad are safe to read from any number of threads.
struct Data {
  Tensor images;                      // [16, 1, 16, 16]
  std::vector<std::int64_t> classes;  // 16 labels in 0..9
  Tensor features;                    // [32, 64]
  Tensor targets;                     // [32, 8]
};

Data make_data() {
  tg::Generator gen(2024);
  Data d;
  d.images = tg::randn({16, 1, 16, 16}, gen);
  for (int i = 0; i < 16; ++i) d.classes.push_back(i % 10);
  d.features = tg::randn({32, 64}, gen);
  d.targets = tg::randn({32, 8}, gen);
  return d;
}

// A small conv net with SGD and momentum. Its conv2d splits the batch over the intra-op
// threads and sums the weight gradient per thread, and its ReLU and pooling are large
// enough to run on more than one thread.
Snapshot train_conv_net(const Data& d, std::uint64_t seed, int steps) {
  tg::Generator gen(seed);
  auto model = std::make_shared<tg::Sequential>(std::initializer_list<std::shared_ptr<tg::Module>>{
      std::make_shared<tg::Conv2D>(1, 8, 3, 1, 1, true, gen), std::make_shared<tg::ReLU>(),
      std::make_shared<tg::MaxPool2D>(2),  // [16, 8, 8, 8]
      std::make_shared<tg::Flatten>(), std::make_shared<tg::Linear>(512, 10, true, gen)});
  tg::SGD optimizer(model->parameters(), 0.05, 0.9);
  for (int step = 0; step < steps; ++step) {
    Tensor loss = tg::cross_entropy((*model)(d.images), d.classes);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
  return snapshot(*model);
}

// An MLP with batch norm and Adam; its 32x64 by 64x256 product is large enough for Eigen to
// split over the intra-op threads.
Snapshot train_mlp(const Data& d, std::uint64_t seed, int steps) {
  tg::Generator gen(seed);
  auto model = std::make_shared<tg::Sequential>(std::initializer_list<std::shared_ptr<tg::Module>>{
      std::make_shared<tg::Linear>(64, 256, true, gen), std::make_shared<tg::BatchNorm1D>(256),
      std::make_shared<tg::ReLU>(), std::make_shared<tg::Linear>(256, 8, true, gen)});
  tg::Adam optimizer(model->parameters(), 1e-3);
  for (int step = 0; step < steps; ++step) {
    Tensor loss = tg::mse_loss((*model)(d.features), d.targets);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
  return snapshot(*model);
}

constexpr int kSteps = 200, kRounds = 3;

// Runs `f` on a new thread and waits for it; exceptions come back to the caller.
template <class F>
void on_other_thread(F f) {
  std::exception_ptr error;
  std::thread([&] {
    try {
      f();
    } catch (...) {
      error = std::current_exception();
    }
  }).join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

TEST_CASE("two models trained at the same time equal the same runs one after another", "[reliability][threads]") {
  const Data d = make_data();
  // One after another, each on a thread of its own, then the conv net again on this thread:
  // the thread a run happens on must not matter.
  Snapshot conv_alone, mlp_alone;
  on_other_thread([&] { conv_alone = train_conv_net(d, 1, kSteps); });
  on_other_thread([&] { mlp_alone = train_mlp(d, 2, kSteps); });
  CHECK(first_difference(train_conv_net(d, 1, kSteps), conv_alone).empty());
  // A different seed gives different parameters, so the comparisons below can fail.
  REQUIRE_FALSE(first_difference(train_conv_net(d, 3, 1), train_conv_net(d, 1, 1)).empty());

  for (int round = 0; round < kRounds; ++round) {
    Snapshot conv_together, mlp_together, conv_twin;
    std::latch start(3);  // all three threads begin their first step together
    auto run = [&](Snapshot& out, auto train, std::uint64_t seed) {
      return std::thread([&out, &start, &d, train, seed] {
        start.arrive_and_wait();
        out = train(d, seed, kSteps);
      });
    };
    std::thread a = run(conv_together, train_conv_net, 1);
    std::thread b = run(mlp_together, train_mlp, 2);
    std::thread c = run(conv_twin, train_conv_net, 1);  // the same model twice at once
    a.join();
    b.join();
    c.join();
    INFO("round " << round);
    CHECK(first_difference(conv_together, conv_alone).empty());
    CHECK(first_difference(mlp_together, mlp_alone).empty());
    CHECK(first_difference(conv_twin, conv_alone).empty());
  }
}

TEST_CASE("set_num_threads on one thread sets the intra-op threads of every thread", "[reliability][threads]") {
  const int before = tg::get_num_threads();
  const Data d = make_data();
  for (int n : {1, 2}) {
    tg::set_num_threads(n);
    INFO("set_num_threads(" << n << ")");
    int seen = 0;
    on_other_thread([&] { seen = tg::get_num_threads(); });
    CHECK(seen == n);
    // conv2d's weight gradient is a sum of one part per intra-op thread, so a thread that
    // ignored the setting would end with different bits.
    Snapshot here = train_conv_net(d, 5, 10), there;
    on_other_thread([&] { there = train_conv_net(d, 5, 10); });
    CHECK(first_difference(there, here).empty());
  }
  tg::set_num_threads(before);
}

TEST_CASE("an op on another thread's tensor names the op and the fix", "[reliability][threads]") {
  Tensor w = tg::full({3}, 2.0, {.requires_grad = true});
  Tensor y;
  on_other_thread([&] { y = w * w; });  // recorded on that thread's tape, which is gone now
  REQUIRE_FALSE(y.is_leaf());

  tg::Tape& tape = tg::Tape::current();
  const std::size_t size = tape.size();
  CHECK_THROWS_AS(y * 3.0, tg::AutogradError);
  CHECK_THROWS_WITH(
      y * 3.0, Catch::StartsWith("mul_scalar: ") && Catch::Contains("recorded on another thread's tape") &&
                   Catch::Contains("computed by mul") && Catch::Contains("detach()") && Catch::Contains("one thread"));
  CHECK_THROWS_WITH(tg::matmul(y.reshape({1, 3}), tg::ones({3, 1})),
                    Catch::Contains("recorded on another thread's tape"));
  CHECK_THROWS_WITH(y.relu(), Catch::StartsWith("relu: "));
  CHECK(tape.size() == size);  // a refused op records nothing

  CHECK_THROWS_AS(y.sum().backward(), tg::AutogradError);
  CHECK_THROWS_WITH(y.backward(tg::ones({3})),
                    Catch::StartsWith("backward: ") && Catch::Contains("recorded on another thread's tape"));
  CHECK_FALSE(w.grad().defined());

  // The fix: its values, detached, are an ordinary constant here.
  Tensor z = (y.detach() * w).sum();
  z.backward();
  CHECK(w.grad().tolist() == std::vector<double>{4, 4, 4});

  // Without grad mode nothing is recorded, so reading it is fine.
  tg::NoGradGuard no_grad;
  CHECK((y * 3.0).tolist() == std::vector<double>{12, 12, 12});
}

TEST_CASE("using a tensor while its own thread runs backward through it is an error, not a race",
          "[reliability][threads]") {
  // Thread A computes y and hands it over, then frees y's graph with backward() while
  // thread B tries to use y. B must fail on what A wrote before the handover (the tape a
  // tensor belongs to), never on the graph A is freeing: ThreadSanitizer checks that.
  for (int round = 0; round < 20; ++round) {
    Tensor w = tg::full({64}, 1.5, {.requires_grad = true});
    Tensor y;
    std::latch handed_over(2);
    std::string op_error, backward_error;
    std::thread a([&] {
      Tensor mine = (w * w).exp();
      y = mine;
      handed_over.arrive_and_wait();
      mine.sum().backward();
    });
    std::thread b([&] {
      handed_over.arrive_and_wait();
      try {
        Tensor z = y * 2.0;
      } catch (const tg::AutogradError& e) {
        op_error = e.what();
      }
      try {
        y.backward(tg::ones({64}));
      } catch (const tg::AutogradError& e) {
        backward_error = e.what();
      }
    });
    a.join();
    b.join();
    INFO("round " << round);
    CHECK_THAT(op_error, Catch::StartsWith("mul_scalar: ") && Catch::Contains("another thread's tape"));
    CHECK_THAT(backward_error, Catch::StartsWith("backward: ") && Catch::Contains("another thread's tape"));
    // A's backward was not disturbed: d/dw sum(exp(w^2)) = 2 w exp(w^2).
    const double expected = 2 * 1.5 * std::exp(1.5 * 1.5);
    REQUIRE(w.grad().defined());
    CHECK(w.grad().at({0}) == Approx(expected).epsilon(1e-6));
    CHECK(w.grad().at({63}) == Approx(expected).epsilon(1e-6));
  }
}

TEST_CASE("leaves that do not require grad can be read by many threads at once", "[reliability][threads]") {
  // A frozen weight shared by four threads, each training its own head on top of it.
  tg::Generator gen(7);
  const Tensor frozen = tg::randn({64, 32}, gen);
  const Tensor x = tg::randn({16, 64}, gen);
  auto train = [&](std::uint64_t seed) {
    tg::Generator g(seed);
    tg::Linear head(32, 4, true, g);
    tg::SGD optimizer(head.parameters(), 0.1);
    for (int step = 0; step < 50; ++step) {
      Tensor loss = head(tg::matmul(x, frozen).relu()).square().mean();
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
    }
    return snapshot(head);
  };
  const Snapshot alone = train(11);
  std::vector<Snapshot> together(4);
  std::vector<std::thread> threads;
  for (auto& out : together) threads.emplace_back([&] { out = train(11); });
  for (auto& t : threads) t.join();
  for (const Snapshot& s : together) CHECK(first_difference(s, alone).empty());
  CHECK_FALSE(frozen.requires_grad());
}
