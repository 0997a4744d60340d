// SPDX-License-Identifier: MIT
// Long graphs: a chain of 10^6 ops goes forward and backward, and is destroyed, on a thread
// with a 256 KB stack. Anything that recursed once per op (a tensor destructor releasing its
// producer's tensor, a recursive backward or tape clear) would overflow that stack within a
// few thousand ops; the last test case shows that the harness does catch such a recursion.
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <exception>
#include <functional>
#include <memory>

#include "test_util.hpp"

using tg::Tensor;

namespace {

constexpr std::size_t kSmallStack = 256 * 1024;
constexpr std::int64_t kOps = 1'000'000;
constexpr double kFactor = 1.000001;

// Runs `body` on a new thread with a stack of `bytes` and waits for it; an exception thrown
// by `body` is rethrown here. (std::thread cannot choose its stack size.)
void run_with_stack(std::size_t bytes, const std::function<void()>& body) {
  struct Job {
    const std::function<void()>* body;
    std::exception_ptr error;
  } job{&body, nullptr};
  auto start = [](void* arg) -> void* {
    auto* j = static_cast<Job*>(arg);
    try {
      (*j->body)();
    } catch (...) {
      j->error = std::current_exception();
    }
    return nullptr;
  };
  pthread_attr_t attr;
  REQUIRE(::pthread_attr_init(&attr) == 0);
  REQUIRE(::pthread_attr_setstacksize(&attr, bytes) == 0);
  pthread_t thread;
  const int created = ::pthread_create(&thread, &attr, start, &job);
  ::pthread_attr_destroy(&attr);
  REQUIRE(created == 0);
  REQUIRE(::pthread_join(thread, nullptr) == 0);
  if (job.error) std::rethrow_exception(job.error);
}

// y = x, then kOps / 2 times y = (y * kFactor) + 0: kOps entries on the tape, and
// y = x kFactor^(kOps / 2), dy/dx = kFactor^(kOps / 2) elementwise. Float64, so the closed
// form holds to 1e-9 after a million roundings.
Tensor chain(const Tensor& x) {
  Tensor y = x;
  for (std::int64_t i = 0; i < kOps / 2; ++i) y = y * kFactor + 0.0;
  return y;
}

const double kGain = std::pow(kFactor, static_cast<double>(kOps / 2));  // about 1.6487

// The tape's warning about a large live tape is meant for training loops that forget to
// call backward(); a million-op chain is that large on purpose.
struct QuietTape {
  std::size_t threshold = tg::tape_warning_threshold();
  QuietTape() { tg::set_tape_warning_threshold(0); }
  ~QuietTape() { tg::set_tape_warning_threshold(threshold); }
};

}  // namespace

TEST_CASE("a chain of a million ops runs forward and backward on a small stack", "[reliability][chain]") {
  QuietTape quiet;
  std::size_t recorded = 0, left = 0;
  std::vector<double> value, grad;
  run_with_stack(kSmallStack, [&] {
    Tensor x = Tensor{0.5, -1.0, 2.0}.to(tg::kFloat64).requires_grad_();
    Tensor y = chain(x);
    recorded = tg::Tape::current().size();
    y.sum().backward();
    left = tg::Tape::current().size();
    value = y.detach().tolist();
    grad = x.grad().tolist();
  });
  CHECK(recorded == static_cast<std::size_t>(kOps));
  CHECK(left == 0);
  const std::vector<double> x{0.5, -1.0, 2.0};
  REQUIRE(grad.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(value[i] == Approx(x[i] * kGain).epsilon(1e-9));
    CHECK(grad[i] == Approx(kGain).epsilon(1e-9));
  }
}

TEST_CASE("dropping a million-op chain without backward frees it without recursion", "[reliability][chain]") {
  QuietTape quiet;
  std::size_t recorded = 0, after_drop = 0, after_prune = 0;
  std::int64_t extra_ops = 0;
  run_with_stack(kSmallStack, [&] {
    Tensor x = Tensor{0.5, -1.0, 2.0}.to(tg::kFloat64).requires_grad_();
    {
      Tensor y = chain(x);
      recorded = tg::Tape::current().size();
    }
    // The last output is gone; each entry still holds its input, the previous output. The
    // tape frees dead chains when it next grows past its pruning point (at most about twice
    // the live size), walking from the end: the loop below records until that happens.
    after_drop = tg::Tape::current().size();
    while (tg::Tape::current().size() >= after_drop && extra_ops < 2 * kOps) {
      Tensor discarded = x * 2.0;
      ++extra_ops;
    }
    after_prune = tg::Tape::current().size();
  });
  CHECK(recorded == static_cast<std::size_t>(kOps));
  CHECK(after_drop == recorded);
  INFO("ops recorded after the drop until the prune: " << extra_ops);
  CHECK(after_prune < 2);  // every dead entry went, the chain's and the loop's
}

TEST_CASE("a retained million-op chain backpropagates twice and is destroyed with its thread", "[reliability][chain]") {
  QuietTape quiet;
  std::size_t retained = 0, cleared = 0;
  std::vector<double> grad_once, grad_twice, grad_left;
  run_with_stack(kSmallStack, [&] {
    Tensor x = Tensor{0.5, -1.0, 2.0}.to(tg::kFloat64).requires_grad_();
    Tensor y = chain(x).sum();
    y.backward({}, true);
    retained = tg::Tape::current().size();
    grad_once = x.grad().tolist();
    y.backward({}, true);
    grad_twice = x.grad().tolist();
    // Tape::clear() drops a million entries at once; then a second chain is left on the
    // tape for the thread's exit to destroy with the thread_local tape, on this same stack.
    tg::Tape::current().clear();
    cleared = tg::Tape::current().size();
    Tensor z = chain(x).sum();
    z.backward({}, true);
    grad_left = x.grad().tolist();
  });
  CHECK(retained == static_cast<std::size_t>(kOps) + 1);
  CHECK(cleared == 0);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(grad_once[i] == Approx(kGain).epsilon(1e-9));
    CHECK(grad_twice[i] == Approx(2 * kGain).epsilon(1e-9));
    CHECK(grad_left[i] == Approx(3 * kGain).epsilon(1e-9));
  }
}

TEST_CASE("the small-stack harness catches a destructor that recurses once per node", "[reliability][chain]") {
  // A linked list of shared_ptr nodes: dropping its head destroys each node from inside its
  // predecessor's destructor, the recursion the cases above would expose. On the small
  // stack the child process must crash (SIGSEGV, or AddressSanitizer's stack-overflow exit).
  struct Node {
    std::shared_ptr<Node> next;
  };
  const pid_t child = ::fork();
  if (child == 0) {
    try {
      run_with_stack(kSmallStack, [] {
        auto head = std::make_shared<Node>();
        for (int i = 0; i < 100'000; ++i) head = std::make_shared<Node>(Node{head});
      });
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(0);
  }
  REQUIRE(child > 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK_FALSE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}
