#pragma once
// How many threads Eigen's matrix products use, product by product.
//
// Eigen splits a product over omp_get_max_threads() threads of the calling thread (tapegrad
// never calls Eigen::setNbThreads, whose count is one global for every user thread) once the
// product has 50k multiply-adds per thread. Waking a second thread costs a few microseconds,
// and on a loaded machine far more, as long as a small product takes: a [32, 28] x [28, 128]
// product took 2 us on one thread and 8 us on two. GemmThreads gives a product
// tg::get_num_threads() threads when it has at least kParallelGemmWork multiply-adds, and one
// below that, on whichever user thread runs it.
#include <omp.h>

#include <cstdint>

#include "tapegrad/threads.hpp"

namespace tg::kernels {

// Measured with `tg_bench --benchmark_filter=matmul/shape` at 1 and 2 threads (see
// docs/performance.md, "Threads that never hurt").
inline constexpr double kParallelGemmWork = 192.0 * 192 * 192;

class GemmThreads {
 public:
  explicit GemmThreads(double multiply_adds) : previous_(omp_get_max_threads()) {
    int want = multiply_adds < kParallelGemmWork || omp_in_parallel() ? 1 : tg::get_num_threads();
    if (want != previous_) omp_set_num_threads(want);
  }
  ~GemmThreads() {
    if (omp_get_max_threads() != previous_) omp_set_num_threads(previous_);
  }
  GemmThreads(const GemmThreads&) = delete;
  GemmThreads& operator=(const GemmThreads&) = delete;

 private:
  int previous_;
};

}  // namespace tg::kernels
