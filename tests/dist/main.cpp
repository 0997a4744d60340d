// SPDX-License-Identifier: MIT
// The MPI tests' main: one tg::dist::Environment around Catch2's session. ctest runs this
// binary under `mpirun -np 2` (tests/CMakeLists.txt); every rank runs every test case, in the
// same order, so that their collectives pair up. The timeout is short, so that a test that
// fails on one rank only (and leaves the other waiting in a collective) ends the run in a
// minute instead of hanging it.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "tapegrad/dist/dist.hpp"

int main(int argc, char** argv) {
  tg::dist::Environment env(argc, argv, {.timeout = std::chrono::seconds(60)});
  Catch::Session session;
  if (int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
  return session.run();
}
