#include "tapegrad/threads.hpp"

#include <omp.h>

#include "ops/kernels.hpp"
#include "tapegrad/error.hpp"

namespace tg {

void set_num_threads(int n) {
  if (n < 1) fail<ValueError>("set_num_threads: need at least 1 thread, got {}", n);
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
}

int get_num_threads() { return Eigen::nbThreads(); }

}  // namespace tg
