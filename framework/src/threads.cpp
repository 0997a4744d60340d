// SPDX-License-Identifier: MIT
#include "tapegrad/threads.hpp"

#include <omp.h>

#include <atomic>

#include "tapegrad/error.hpp"

namespace tg {

namespace {

// Read by every op that splits its work, on any user thread: an atomic, so that reading it
// while the main thread sets it is not a data race.
std::atomic<int>& thread_count() {
  static std::atomic<int> count{omp_get_max_threads()};
  return count;
}

}  // namespace

void set_num_threads(int n) {
  if (n < 1) fail<ValueError>("set_num_threads: need at least 1 thread, got {}", n);
  thread_count().store(n, std::memory_order_relaxed);
  // For OpenMP code outside tapegrad on this thread, as before. tapegrad's own loops and
  // matrix products read get_num_threads() (ops/parallel_for.hpp, isa/gemm.hpp).
  omp_set_num_threads(n);
}

int get_num_threads() { return thread_count().load(std::memory_order_relaxed); }

}  // namespace tg
