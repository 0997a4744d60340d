// Thread count: settable, validated, and results do not depend on it for the ops here.
#include <omp.h>

#include <thread>

#include "test_util.hpp"

TEST_CASE("set_num_threads sets the count and rejects fewer than one", "[threads]") {
  int before = tg::get_num_threads();
  tg::set_num_threads(1);
  CHECK(tg::get_num_threads() == 1);
  tg::Generator gen(5);
  tg::Tensor a = tg::randn({64, 300}, gen), b = tg::randn({300, 50}, gen);
  tg::Tensor one = tg::matmul(a, b);
  tg::set_num_threads(2);
  CHECK(tg::get_num_threads() == 2);
  CHECK(tg::test::allclose(tg::matmul(a, b), one, 1e-5, 1e-5));
  CHECK_THROWS_AS(tg::set_num_threads(0), tg::ValueError);
  CHECK_THROWS_WITH(tg::set_num_threads(-3), Catch::Contains("set_num_threads") && Catch::Contains("-3"));
  tg::set_num_threads(before);
}

TEST_CASE("matrix products leave OpenMP's own count on the calling thread as set_num_threads set it", "[threads]") {
  int before = tg::get_num_threads();
  tg::set_num_threads(2);
  tg::Generator gen(6);
  // One product under the threshold for a second thread, one above it (kParallelGemmWork).
  for (std::int64_t n : {16, 256}) {
    INFO("n = " << n);
    tg::Tensor a = tg::randn({n, n}, gen), b = tg::randn({n, n}, gen);
    tg::Tensor y = tg::matmul(a, b);
    CHECK(omp_get_max_threads() == 2);
    // And from a user thread, whose OpenMP count was never set: the same bits.
    tg::Tensor from_thread;
    std::thread([&] { from_thread = tg::matmul(a, b); }).join();
    CHECK(tg::test::allclose(from_thread, y, 0, 0));
  }
  tg::set_num_threads(before);
}
