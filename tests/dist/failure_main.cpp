// SPDX-License-Identifier: MIT
// What tests/dist/failure.cmake runs under mpirun -np 2: rank 1 fails in the way MODE says,
// while rank 0 keeps calling collectives. Rank 0 must exit non-zero with a clear message
// within the timeout (TAPEGRAD_DIST_TIMEOUT), never hang.
//   killed: rank 1 kills itself with SIGKILL (mpirun sees it die and ends the job)
//   hung:   rank 1 sleeps without calling the collective (rank 0's timeout ends it)
#include <csignal>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "tapegrad/tapegrad.hpp"

int main(int argc, char** argv) {
  if (argc != 2 || (std::strcmp(argv[1], "killed") != 0 && std::strcmp(argv[1], "hung") != 0)) {
    fmt::print(stderr, "usage: mpirun -np 2 {} killed|hung\n", argv[0]);
    return 2;
  }
  const bool killed = std::strcmp(argv[1], "killed") == 0;
  tg::dist::Environment env(argc, argv);
  try {
    tg::Tensor t = tg::ones({1000});
    tg::dist::all_reduce_(t);  // both ranks are up
    if (tg::dist::rank() == 1) {
      if (killed) std::raise(SIGKILL);
      std::this_thread::sleep_for(std::chrono::seconds(100));
      return 0;
    }
    for (int i = 0; i < 1000000; ++i) tg::dist::all_reduce_(t);
    fmt::print("rank 0 finished every all-reduce, which it cannot have: rank 1 is gone\n");
    return 0;
  } catch (const tg::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
