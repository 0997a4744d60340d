// SPDX-License-Identifier: MIT
// Controls for scripts/tsan.sh: two deliberate data races that ThreadSanitizer must report,
// one between std::threads and one inside an OpenMP region. If either ran clean, a clean
// run of the real tests would prove nothing. Hidden ([.]), and built only into the
// ThreadSanitizer binary (tapegrad_thread_tests).
#include <omp.h>

#include <thread>

#include "test_util.hpp"

namespace {
int shared_by_threads = 0;  // written without a lock on purpose
int shared_in_region = 0;
}  // namespace

TEST_CASE("control: two std::threads write one int without a lock", "[.][tsan_control][tsan_control_threads]") {
  std::thread a([] { shared_by_threads += 1; });
  std::thread b([] { shared_by_threads += 2; });
  a.join();
  b.join();
  CHECK(shared_by_threads != 0);
}

TEST_CASE("control: two OpenMP threads write one int without a lock", "[.][tsan_control][tsan_control_openmp]") {
  int threads = 0;
#pragma omp parallel num_threads(2)
  {
    shared_in_region += omp_get_thread_num() + 1;
#pragma omp single
    threads = omp_get_num_threads();
  }
  REQUIRE(threads == 2);
  CHECK(shared_in_region != 0);
}
