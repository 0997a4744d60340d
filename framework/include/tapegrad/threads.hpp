#pragma once
// The number of threads tapegrad's kernels use (OpenMP; Eigen's matrix products included).
// The default is one per core; set_num_threads(1) makes every run single-threaded.

namespace tg {

void set_num_threads(int n);  // n >= 1; ValueError otherwise
int get_num_threads();

}  // namespace tg
