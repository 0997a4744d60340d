// SPDX-License-Identifier: MIT
// Collectives across the ranks (run under mpirun -np 2 by ctest; a world of one also passes).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <thread>

#include "tapegrad/tapegrad.hpp"

namespace dist = tg::dist;
using tg::Tensor;

TEST_CASE("dist: rank and world size describe the mpirun job", "[dist][collectives]") {
  REQUIRE(dist::is_initialized());
  REQUIRE(dist::world_size() >= 1);
  REQUIRE(dist::rank() >= 0);
  REQUIRE(dist::rank() < dist::world_size());
  REQUIRE(dist::local_size() >= 1);
  REQUIRE(dist::local_rank() < dist::local_size());
  REQUIRE_FALSE(dist::processor_name().empty());
  // Each rank computes with its share of the cores: never more threads in all than cores.
  if (!std::getenv("OMP_NUM_THREADS")) {
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    CHECK(tg::get_num_threads() * dist::local_size() <= std::max(cores, dist::local_size()));
  }
}

TEST_CASE("dist: all_reduce_ sums, averages, and takes the max and min, in place", "[dist][collectives]") {
  const int r = dist::rank(), w = dist::world_size();
  const double rank_sum = w * (w - 1) / 2.0;  // 0 + 1 + ... + (w - 1)
  for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64}) {
    Tensor t = tg::tensor({1.0 * r, 2.0 * r + 1, -3.0}, {.dtype = dtype});
    std::uint32_t v = t.version();
    dist::all_reduce_(t);
    CHECK(t.version() > v);
    CHECK(t.tolist() == std::vector<double>{rank_sum, 2 * rank_sum + w, -3.0 * w});
    Tensor m = tg::tensor({1.0 * r, 4.0}, {.dtype = dtype});
    dist::all_reduce_(m, dist::ReduceOp::kMean);
    CHECK(m.tolist() == std::vector<double>{rank_sum / w, 4.0});
    Tensor mx = tg::tensor({1.0 * r, -1.0 * r}, {.dtype = dtype}), mn = mx.clone();
    dist::all_reduce_(mx, dist::ReduceOp::kMax);
    dist::all_reduce_(mn, dist::ReduceOp::kMin);
    CHECK(mx.tolist() == std::vector<double>{w - 1.0, 0.0});
    CHECK(mn.tolist() == std::vector<double>{0.0, 1.0 - w});
  }
  Tensor i = tg::tensor({3, 5}, {.dtype = tg::kInt64}) * (r + 1);
  dist::all_reduce_(i);
  CHECK(i.tolist() == std::vector<double>{3 * (rank_sum + w), 5 * (rank_sum + w)});
}

TEST_CASE("dist: fixed_order gives the rank-order sum, the same on every rank", "[dist][collectives]") {
  const int r = dist::rank(), w = dist::world_size();
  tg::Generator gen(7 + static_cast<std::uint64_t>(r));
  Tensor t = tg::randn({1000}, gen);
  std::vector<Tensor> parts = dist::all_gather(t);
  Tensor expected = parts[0].clone();
  for (int k = 1; k < w; ++k) expected = expected + parts[static_cast<std::size_t>(k)];
  Tensor s = t.clone();
  dist::all_reduce_(s, {.op = dist::ReduceOp::kSum, .fixed_order = true});
  CHECK(s.tolist() == expected.tolist());
  // Every rank holds the same bits.
  for (const Tensor& other : dist::all_gather(s)) CHECK(other.tolist() == s.tolist());
}

TEST_CASE("dist: broadcast_, all_gather and barrier", "[dist][collectives]") {
  const int r = dist::rank(), w = dist::world_size();
  Tensor t = tg::full({2, 3}, 10.0 + r);
  dist::broadcast_(t, 0);
  CHECK(t.tolist() == std::vector<double>(6, 10.0));
  Tensor u = tg::full({2}, 1.0 * r, {.dtype = tg::kFloat64});
  dist::broadcast_(u, w - 1);
  CHECK(u.tolist() == std::vector<double>(2, w - 1.0));
  std::vector<Tensor> all = dist::all_gather(tg::tensor({{1.0 * r, 2.0 * r}}));
  REQUIRE(all.size() == static_cast<std::size_t>(w));
  for (int k = 0; k < w; ++k) {
    CHECK(all[static_cast<std::size_t>(k)].shape() == tg::Shape{1, 2});
    CHECK(all[static_cast<std::size_t>(k)].tolist() == std::vector<double>{1.0 * k, 2.0 * k});
  }
  dist::barrier();
  // Asynchronous form: returns at once, the result is there after wait().
  Tensor a = tg::full({4}, 1.0);
  dist::Work work = dist::all_reduce_async_(a);
  work.wait();
  CHECK(work.completed());
  CHECK(a.tolist() == std::vector<double>(4, 1.0 * w));
}

TEST_CASE("dist: bad input is a clear error on every rank, and MPI stays usable", "[dist][collectives]") {
  const int r = dist::rank(), w = dist::world_size();
  Tensor b = tg::tensor({true, false});
  CHECK_THROWS_WITH(dist::all_reduce_(b), Catch::Contains("all_reduce_") && Catch::Contains("bool"));
  Tensor i = tg::tensor({1}, {.dtype = tg::kInt64});
  CHECK_THROWS_AS(dist::all_reduce_(i, dist::ReduceOp::kMean), tg::DtypeError);
  Tensor undefined;
  CHECK_THROWS_AS(dist::broadcast_(undefined), tg::ValueError);
  Tensor t = tg::ones({2});
  CHECK_THROWS_WITH(dist::broadcast_(t, w), Catch::Contains("broadcast_") && Catch::Contains("root"));
  if (w > 1) {
    // Different shapes on different ranks: every rank learns it, nothing hangs.
    Tensor mismatched = tg::ones({2 + r});
    CHECK_THROWS_WITH(dist::all_reduce_(mismatched),
                      Catch::Contains("all_reduce_") && Catch::Contains("same shape and dtype"));
    CHECK_THROWS_AS(dist::all_gather(tg::ones({1 + r})), tg::DistError);
  }
  Tensor after = tg::ones({3});
  dist::all_reduce_(after);
  CHECK(after.tolist() == std::vector<double>(3, 1.0 * w));
  CHECK_THROWS_AS(dist::set_timeout(std::chrono::milliseconds(0)), tg::ValueError);
}

TEST_CASE("dist: all_reduce_sum is differentiable: its backward sums the gradients over the ranks",
          "[dist][collectives]") {
  const int r = dist::rank(), w = dist::world_size();
  Tensor x = tg::tensor({1.0, 2.0}, {.dtype = tg::kFloat64}).requires_grad_();
  Tensor y = dist::all_reduce_sum(x * (r + 1));  // sum_k (k + 1) x_k = (sum_k (k + 1)) x, as all x_k are equal
  const double c = w * (w + 1) / 2.0;
  CHECK(y.tolist() == std::vector<double>{c, 2 * c});
  // Each rank's loss weighs y by its own factor; the gradient of the sum of all ranks' losses
  // with respect to this rank's x is (r + 1) * sum_k (k + 2).
  (y * (r + 2.0)).sum().backward();
  const double weights = w * (w + 1) / 2.0 + w;  // sum_k (k + 2)
  CHECK(x.grad().tolist() == std::vector<double>{(r + 1) * weights, (r + 1) * weights});
}
