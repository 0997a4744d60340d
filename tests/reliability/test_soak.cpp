// SPDX-License-Identifier: MIT
// A long training run: memory stays flat and the tape is empty after every step.
//
// TAPEGRAD_SOAK_STEPS sets the number of steps (default 10,000); memory is sampled every
// twentieth of the run and fitted after the first tenth (the warm-up: the allocator, the
// storage cache and Adam's state reach their steady size there).
#include <malloc.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>

#include "test_util.hpp"

#if TAPEGRAD_TEST_ASAN
// The ASan runtime's count of the bytes the program holds. Note: declared here, not taken from
// <sanitizer/allocator_interface.h>, which GCC 12 does not ship (only clang does); the
// function is in the runtime either way.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

using tg::Tensor;

namespace {

// The resident set size of this process in bytes (/proc/self/statm: size, resident, ... in pages).
double resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

// Bytes the program holds from the allocator right now. Exact to the byte, unlike the
// page-granular RSS, and under AddressSanitizer it leaves out the quarantine of freed blocks,
// which makes RSS grow by hundreds of MB in any program that allocates.
double heap_bytes() {
#if TAPEGRAD_TEST_ASAN
  return static_cast<double>(__sanitizer_get_current_allocated_bytes());
#else
  const struct mallinfo2 info = ::mallinfo2();
  return static_cast<double>(info.uordblks + info.hblkhd);
#endif
}

// The least-squares slope of y over x.
double slope(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mx += x[i] / n, my += y[i] / n;
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < x.size(); ++i) sxy += (x[i] - mx) * (y[i] - my), sxx += (x[i] - mx) * (x[i] - mx);
  return sxy / sxx;
}

std::int64_t soak_steps() {
  const char* text = std::getenv("TAPEGRAD_SOAK_STEPS");
  if (text == nullptr || *text == '\0') return 10'000;
  char* end = nullptr;
  const long long steps = std::strtoll(text, &end, 10);
  if (*end != '\0' || steps < 200)
    FAIL("TAPEGRAD_SOAK_STEPS is '" << text << "'; it must be a whole number of steps, at least 200");
  return steps;
}

// One thread for the test's duration. The tiny ops of this net take microseconds, and with
// two threads each one waits at an OpenMP barrier: on a machine whose cores are busy (ctest
// -j, a build beside it) that wait costs milliseconds per op, 40x the whole step.
struct OneThread {
  int previous = tg::get_num_threads();
  OneThread() { tg::set_num_threads(1); }
  ~OneThread() { tg::set_num_threads(previous); }
};

}  // namespace

TEST_CASE("a long training run keeps memory flat and the tape empty", "[reliability][soak]") {
  const std::int64_t steps = soak_steps();
  const std::int64_t every = steps / 20, warm_up = steps / 10;
  OneThread one_thread;

  // Conv2D 1->4 k3, ReLU, MaxPool 2, Linear 36->10, trained with Adam on random 8x8 images.
  tg::Generator gen(7);
  tg::Sequential model{std::make_shared<tg::Conv2D>(1, 4, 3, 1, 0, true, gen), std::make_shared<tg::ReLU>(),
                       std::make_shared<tg::MaxPool2D>(2), std::make_shared<tg::Flatten>(),
                       std::make_shared<tg::Linear>(36, 10, true, gen)};
  tg::Adam optimizer(model.parameters(), 1e-3);
  std::mt19937 labels(7);
  std::uniform_int_distribution<std::int64_t> label(0, 9);
  const Tensor held_out = tg::randn({8, 1, 8, 8}, gen);

  // Note: run alone (as ctest runs each test case) the tape starts empty; run after other
  // test cases in one process it may hold what they left, which this test does not judge.
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  std::int64_t steps_leaving_entries = 0, first_bad_step = -1;
  std::vector<double> at, rss, heap;
  for (std::int64_t step = 1; step <= steps; ++step) {
    const Tensor x = tg::randn({8, 1, 8, 8}, gen);
    std::array<std::int64_t, 8> y{};
    for (auto& t : y) t = label(labels);
    Tensor loss = tg::cross_entropy(model(x), y);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    // Counted rather than checked 10,000 times: one failure names the first step.
    if (tape.size() != 0 && steps_leaving_entries++ == 0) first_bad_step = step;

    if (step % every == 0) {
      {
        tg::NoGradGuard no_grad;
        model.eval();
        const Tensor logits = model(held_out);
        model.train();
        CHECK_FALSE(logits.requires_grad());
      }
      INFO("step " << step);
      CHECK(tape.size() == 0);  // evaluation recorded nothing
      if (step > warm_up) {
        at.push_back(static_cast<double>(step));
        rss.push_back(resident_bytes());
        heap.push_back(heap_bytes());
      }
    }
  }
  INFO("first step that left entries on the tape: " << first_bad_step);
  CHECK(steps_leaving_entries == 0);

  // Note: the bounds, in bytes per step. A leak of one small tensor per step (a TensorImpl,
  // its Storage and two control blocks: over 200 bytes) or of a 64-byte block per step
  // (640 KB over 10,000 steps) has a slope of at least 64. The heap is counted to the byte
  // and is flat when nothing leaks, so 8 catches even that with room; RSS moves in 4 KB
  // pages and with the allocator's trimming, and one 132 KB jump in the middle of the fit
  // alone adds about 20 bytes per step, so it gets 32. Under AddressSanitizer RSS includes
  // the quarantine of freed blocks and only the heap is meaningful.
  const double heap_slope = slope(at, heap), rss_slope = slope(at, rss);
  INFO(steps << " steps: heap " << heap.front() << " -> " << heap.back() << " bytes, slope " << heap_slope
             << " B/step; RSS " << rss.front() << " -> " << rss.back() << " bytes, slope " << rss_slope << " B/step");
  CHECK(heap_slope < 8);
  if (!TAPEGRAD_TEST_ASAN) CHECK(rss_slope < 32);
}
