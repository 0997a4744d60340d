// SPDX-License-Identifier: MIT
#pragma once
// The number of threads each op may use inside itself (OpenMP; Eigen's matrix products
// included). The default is one per core; set_num_threads(1) makes every op single-threaded.
//
// Note: the count is one setting for the whole process, and every user thread's ops use it.
// OpenMP's own setting (omp_set_num_threads) belongs to the thread that sets it, so a
// std::thread started after set_num_threads(1) would otherwise still split its ops over
// every core, and its results could differ from the same run on the main thread (conv2d's
// weight gradient and Eigen's products add partial sums per thread). Each user thread that
// runs an op gets its own OpenMP team, so two user threads never share one; up to
// 2 x get_num_threads() OS threads then compute at once.
//
// A loop or matrix product too small to pay for waking a second thread stays on the calling
// thread whatever the count (a grain size per kernel, docs/performance.md "Threads that never
// hurt"), so a second thread never makes a small model slower.

namespace tg {

void set_num_threads(int n);  // n >= 1; ValueError otherwise
int get_num_threads();

}  // namespace tg
