// SPDX-License-Identifier: MIT
// Thread count: settable, validated, and results do not depend on it for the ops here.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

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

namespace {

// Everything a training step splits over threads: a product large enough to be cut into
// pieces, conv2d's forward and backward (chunks of images, per-chunk partial sums) and an
// elementwise function (parallel_for).
std::vector<tg::Tensor> split_work(const tg::Tensor& a, const tg::Tensor& b, const tg::Tensor& x, const tg::Tensor& w) {
  tg::Tensor xg = x.detach().requires_grad_(), wg = w.detach().requires_grad_();
  tg::Tensor y = tg::conv2d(xg, wg, tg::Tensor(), {.padding = 1});
  (y * y).sum().backward();
  return {tg::matmul(a, b), y.detach(), xg.grad(), wg.grad(), tg::sigmoid(a)};
}

}  // namespace

TEST_CASE("split work gives the same bits every time, from any number of user threads at once", "[threads]") {
  int before = tg::get_num_threads();
  tg::set_num_threads(2);
  tg::Generator gen(7);
  tg::Tensor a = tg::randn({384, 256}, gen), b = tg::randn({256, 320}, gen);
  tg::Tensor x = tg::randn({8, 16, 20, 20}, gen), w = tg::randn({16, 16, 3, 3}, gen);
  const std::vector<tg::Tensor> reference = split_work(a, b, x, w);
  for (int repeat = 0; repeat < 3; ++repeat) {
    std::vector<tg::Tensor> again = split_work(a, b, x, w);
    for (std::size_t i = 0; i < again.size(); ++i) CHECK(tg::test::allclose(again[i], reference[i], 0, 0));
  }
  // One loop at a time uses the pool; the others run on their callers, in the same chunks.
  std::vector<std::vector<tg::Tensor>> results(4);
  std::vector<std::thread> users;
  for (auto& result : results) users.emplace_back([&] { result = split_work(a, b, x, w); });
  for (auto& user : users) user.join();
  for (const auto& result : results)
    for (std::size_t i = 0; i < result.size(); ++i) CHECK(tg::test::allclose(result[i], reference[i], 0, 0));
  tg::set_num_threads(before);
}

TEST_CASE("matrix products of changing sizes reuse their packing buffers correctly", "[threads]") {
  int before = tg::get_num_threads();
  tg::Generator gen(8);
  // Growing, shrinking and growing again, on one thread and split into pieces on two, in both
  // dtypes, against a sum in double precision.
  for (int threads : {1, 2}) {
    tg::set_num_threads(threads);
    for (std::int64_t n : {300, 24, 513, 64, 257}) {
      for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64}) {
        INFO(threads << " thread(s), n = " << n << ", " << tg::dtype_name(dtype));
        tg::Tensor a = tg::randn({n, n + 3}, gen, {.dtype = dtype}),
                   b = tg::randn({n + 3, n - 1}, gen, {.dtype = dtype});
        tg::Tensor y = tg::matmul(a, b), ad = a.to(tg::kFloat64), bd = b.to(tg::kFloat64);
        double worst = 0;
        for (std::int64_t i = 0; i < n; i += 7)
          for (std::int64_t j = 0; j < n - 1; j += 5) {
            double sum = 0;
            for (std::int64_t k = 0; k < n + 3; ++k)
              sum += ad.data<double>()[i * (n + 3) + k] * bd.data<double>()[k * (n - 1) + j];
            double got = dtype == tg::kFloat32 ? y.data<float>()[i * (n - 1) + j] : y.data<double>()[i * (n - 1) + j];
            worst = std::max(worst, std::abs(got - sum));
          }
        CHECK(worst < (dtype == tg::kFloat32 ? 1e-3 : 1e-10));
      }
    }
  }
  tg::set_num_threads(before);
}
