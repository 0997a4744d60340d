// SPDX-License-Identifier: MIT
// TAPEGRAD_ISA, read at a program's first op: it forces a lower kernel level, and a bad value
// is a clear error that names the variable and the levels, not a crash.
#include "test_util.hpp"

namespace {

struct Run {
  int status;
  std::string out, err;
};

// lenet on 64 images (it prints the CPU and the kernels it picked on stderr).
Run lenet(const std::string& isa) {
  const std::string out = "isa_env_stdout.txt", err = "isa_env_stderr.txt";
  Run r;
  r.status = tg::test::run_program(fmt::format("TAPEGRAD_ISA={} {}", isa, TAPEGRAD_LENET),
                                   "--limit 64 --test-limit 64 --epochs 1 --batch-size 64", out, err);
  r.out = tg::test::read_bytes(out);
  r.err = tg::test::read_bytes(err);
  return r;
}

}  // namespace

TEST_CASE("TAPEGRAD_ISA forces a lower kernel level and rejects what it cannot run", "[isa][examples]") {
  Run best = lenet("");
  REQUIRE(best.status == 0);
  CHECK_THAT(best.err, Catch::Contains(fmt::format("kernels: {}", tg::isa_name(tg::cpu_features().supported))));

  Run baseline = lenet("baseline");
  REQUIRE(baseline.status == 0);
  CHECK_THAT(baseline.err, Catch::Contains("kernels: baseline"));
  CHECK_THAT(baseline.out, Catch::Contains("epoch 1 loss"));

  Run bogus = lenet("avx9000");
  CHECK(bogus.status != 0);
  CHECK(bogus.out.empty());  // refused before training
  CHECK_THAT(bogus.err, Catch::Contains("TAPEGRAD_ISA") && Catch::Contains("avx9000") &&
                            Catch::Contains("baseline, avx2 or avx512"));
  if (tg::cpu_features().supported < tg::IsaLevel::avx512) {
    Run above = lenet("avx512");
    CHECK(above.status != 0);
    CHECK_THAT(above.err, Catch::Contains("cannot run the avx512 kernels"));
  }
}
