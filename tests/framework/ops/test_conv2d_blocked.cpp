// SPDX-License-Identifier: MIT
// conv2d's implementations, im2col + GEMM (ops/im2col.hpp, ops/conv2d_gemm.cpp), direct
// (ops/conv2d_direct.cpp) and the two references naive and rotated (ops/conv2d_reference.cpp),
// on shapes large enough to reach what small gradcheck cases do not: rows of 8 and more values
// (chunked copies), padding wider than a chunk, blocks of several images and images cut into
// several blocks, strides, float32, the split over threads, and for the direct path channel
// counts that are not multiples of its 16 lanes and rows longer than 16. The reference is the
// definition, as plain loops in double precision (scattered from dY, where naive gathers).
// test_conv2d_algorithms.cpp compares the algorithms with each other and runs gradcheck.
#include <vector>

#include "framework/ops/op_test_util.hpp"
#include "tapegrad/ops/conv2d.hpp"
#include "tapegrad/threads.hpp"

using tg::Conv2dOptions;
using tg::Tensor;
using tg::test::allclose;

namespace {

struct Expected {
  std::vector<double> y, dx, dw, db;
};

// Y = conv2d(x, w, b) and, for dY = G, its gradients, from the definitions in ops/conv2d.cpp:
//   Y[n, o, i, j]        = b[o] + sum_{c, a, e} x[n, c, sh i + a - ph, sw j + e - pw] w[o, c, a, e]
//   dx[n, c, y, z]      += G[n, o, i, j] w[o, c, a, e]      for each such pairing
//   dw[o, c, a, e]      += G[n, o, i, j] x[n, c, y, z]
//   db[o]               += G[n, o, i, j]
Expected by_definition(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, const Tensor& G_in,
                       const Conv2dOptions& o) {
  std::vector<double> x = x_in.tolist(), w = w_in.tolist(), b = b_in.tolist(), G = G_in.tolist();
  std::int64_t N = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
  std::int64_t O = w_in.size(0), kh = w_in.size(2), kw = w_in.size(3), OH = G_in.size(2), OW = G_in.size(3);
  auto [sh, sw] = o.stride;
  auto [ph, pw] = o.padding;
  Expected e{std::vector<double>(G.size()), std::vector<double>(x.size()), std::vector<double>(w.size()),
             std::vector<double>(b.size())};
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t oc = 0; oc < O; ++oc)
      for (std::int64_t i = 0; i < OH; ++i)
        for (std::int64_t j = 0; j < OW; ++j) {
          std::int64_t out = ((n * O + oc) * OH + i) * OW + j;
          double sum = b[oc], g = G[out];
          e.db[oc] += g;
          for (std::int64_t c = 0; c < C; ++c)
            for (std::int64_t a = 0; a < kh; ++a)
              for (std::int64_t f = 0; f < kw; ++f) {
                std::int64_t y = sh * i + a - ph, z = sw * j + f - pw;
                if (y < 0 || y >= H || z < 0 || z >= W) continue;
                std::int64_t xi = ((n * C + c) * H + y) * W + z, wi = ((oc * C + c) * kh + a) * kw + f;
                sum += x[xi] * w[wi];
                e.dx[xi] += g * w[wi];
                e.dw[wi] += g * x[xi];
              }
          e.y[out] = sum;
        }
  return e;
}

struct BlockedCase {
  std::int64_t N, C, H, W, O, kh, kw;
  Conv2dOptions options;
};

// Runs conv2d forward and backward with dY = G and checks all four results against the
// definition, with a tolerance for the dtype.
void check_against_definition(const BlockedCase& k, tg::Dtype dtype, tg::Generator& gen) {
  INFO(fmt::format("x [{}, {}, {}, {}] w [{}, {}, {}, {}] stride ({}, {}) padding ({}, {}) dtype {}", k.N, k.C, k.H,
                   k.W, k.O, k.C, k.kh, k.kw, k.options.stride[0], k.options.stride[1], k.options.padding[0],
                   k.options.padding[1], dtype == tg::kFloat32 ? "float32" : "float64"));
  Tensor x = tg::test::uniform({k.N, k.C, k.H, k.W}, gen, -1, 1).to(dtype).requires_grad_();
  Tensor w = tg::test::uniform({k.O, k.C, k.kh, k.kw}, gen, -1, 1).to(dtype).requires_grad_();
  Tensor b = tg::test::uniform({k.O}, gen, -1, 1).to(dtype).requires_grad_();
  Tensor y = tg::conv2d(x, w, b, k.options);
  Tensor G = tg::test::uniform(y.shape(), gen, -1, 1).to(dtype);
  (y * G).sum().backward();
  Expected e = by_definition(x, w, b, G, k.options);
  double tol = dtype == tg::kFloat32 ? 1e-4 : 1e-11;
  auto as_tensor = [&](const std::vector<double>& v, const Tensor& like) {
    return tg::from_vector(v, like.shape(), {.dtype = tg::kFloat64});
  };
  CHECK(allclose(y.to(tg::kFloat64), as_tensor(e.y, y), tol, tol));
  CHECK(allclose(x.grad().to(tg::kFloat64), as_tensor(e.dx, x), tol, tol));
  CHECK(allclose(w.grad().to(tg::kFloat64), as_tensor(e.dw, w), tol, tol));
  CHECK(allclose(b.grad().to(tg::kFloat64), as_tensor(e.db, b), tol, tol));
}

const std::vector<BlockedCase> kCases = {
    {3, 2, 12, 20, 3, 3, 3, {{1, 1}, {1, 1}}},   // rows of 20: two chunks and an overlapping tail
    {2, 1, 28, 28, 6, 5, 5, {{1, 1}, {2, 2}}},   // LeNet's conv1
    {5, 6, 14, 14, 16, 5, 5, {{1, 1}, {0, 0}}},  // LeNet's conv2, several images per block
    {2, 2, 9, 30, 2, 3, 7, {{1, 1}, {4, 11}}},   // padding wider than a chunk, rows of 8 to 36
    {2, 3, 11, 23, 2, 3, 4, {{2, 2}, {1, 2}}},   // strided: no chunked copies
    {2, 2, 10, 25, 3, 2, 3, {{2, 1}, {1, 0}}},   // stride in rows only
    {2, 2, 10, 25, 3, 3, 2, {{1, 3}, {0, 1}}},   // stride in columns only
    {2, 1, 6, 40, 2, 1, 1, {{1, 1}, {0, 0}}},    // 1 x 1 kernel
    {2, 48, 40, 40, 3, 3, 3, {{1, 1}, {1, 1}}},  // each image cut into several blocks of rows
    {1, 3, 3, 3, 2, 3, 3, {{1, 1}, {2, 2}}},     // output larger than the input
    {2, 4, 1, 1, 3, 3, 3, {{1, 1}, {1, 1}}},     // 1 x 1 images: only the centre tap meets them
    {2, 3, 2, 2, 3, 3, 3, {{2, 2}, {1, 1}}},     // stride 2 on 2 x 2: two of three rows and columns
    {2, 2, 1, 5, 3, 3, 3, {{1, 1}, {1, 1}}},     // one row: the middle kernel row only
    {3, 20, 9, 21, 20, 3, 3, {{1, 1}, {1, 1}}},  // direct: 20 channels in and out (a partial block of
                                                 // 16 each), rows of 23 (two 16-wide pieces)
    {2, 3, 12, 36, 33, 4, 2, {{1, 1}, {0, 3}}},  // direct: 33 outputs (3 blocks), uneven kernel
    {2, 3, 5, 5, 12, 3, 3, {{1, 1}, {0, 0}}},    // direct: 12 outputs on rows of 3, channel tiles
};

// Sets the conv2d algorithm for a scope.
struct AlgorithmGuard {
  tg::Conv2dAlgorithm previous = tg::get_conv2d_algorithm();
  explicit AlgorithmGuard(tg::Conv2dAlgorithm a) { tg::set_conv2d_algorithm(a); }
  ~AlgorithmGuard() { tg::set_conv2d_algorithm(previous); }
};

bool direct_applies(const BlockedCase& k, tg::Dtype dtype) {
  return tg::direct_conv2d_available() && dtype == tg::kFloat32 &&
         k.options.stride == std::array<std::int64_t, 2>{1, 1};
}

}  // namespace

TEST_CASE("conv2d's gemm, naive and rotated paths equal the definition", "[ops][conv2d]") {
  auto [name, algorithm] =
      GENERATE(table<const char*, tg::Conv2dAlgorithm>({{"gemm", tg::Conv2dAlgorithm::gemm},
                                                        {"naive", tg::Conv2dAlgorithm::naive},
                                                        {"rotated", tg::Conv2dAlgorithm::rotated}}));
  INFO("algorithm " << name);
  AlgorithmGuard guard(algorithm);
  tg::Generator gen(91);
  for (const BlockedCase& k : kCases) {
    check_against_definition(k, tg::kFloat64, gen);
    check_against_definition(k, tg::kFloat32, gen);
  }
}

TEST_CASE("conv2d's direct path equals the definition", "[ops][conv2d]") {
  if (!tg::direct_conv2d_available()) {
    TG_SKIP("this build has no direct conv2d (no AVX-512)");
    return;
  }
  AlgorithmGuard direct(tg::Conv2dAlgorithm::direct);
  tg::Generator gen(93);
  int checked = 0;
  for (const BlockedCase& k : kCases)
    if (direct_applies(k, tg::kFloat32)) {
      check_against_definition(k, tg::kFloat32, gen);
      ++checked;
    }
  CHECK(checked == 12);  // the cases with stride (1, 1)
}

TEST_CASE("conv2d's automatic choice is right whichever path it takes", "[ops][conv2d]") {
  AlgorithmGuard automatic(tg::Conv2dAlgorithm::automatic);
  tg::Generator gen(94);
  // Every case again under `automatic`: whichever path it picks must be right, for both dtypes.
  for (const BlockedCase& k : kCases) {
    check_against_definition(k, tg::kFloat64, gen);
    check_against_definition(k, tg::kFloat32, gen);
  }
}

TEST_CASE("forcing the direct conv2d where it does not apply is a clear error", "[ops][conv2d][errors]") {
  if (!tg::direct_conv2d_available()) {
    CHECK_THROWS_WITH(tg::set_conv2d_algorithm(tg::Conv2dAlgorithm::direct),
                      Catch::Contains("set_conv2d_algorithm") && Catch::Contains("needs the avx512 kernels") &&
                          Catch::Contains("use automatic or gemm"));
    return;
  }
  AlgorithmGuard direct(tg::Conv2dAlgorithm::direct);
  Tensor x = tg::ones({1, 2, 6, 6}), w = tg::ones({16, 2, 3, 3});
  CHECK_THROWS_AS(tg::conv2d(x.to(tg::kFloat64), w), tg::ValueError);
  CHECK_THROWS_WITH(tg::conv2d(x.to(tg::kFloat64), w),
                    Catch::Contains("conv2d: the direct algorithm needs float32") && Catch::Contains("float64"));
  CHECK_THROWS_WITH(tg::conv2d(x, w, Tensor(), {.stride = {2, 1}}),
                    Catch::Contains("stride (2, 1)") && Catch::Contains("set_conv2d_algorithm"));
  Tensor dy = tg::ones({1, 16, 2, 2});
  CHECK_THROWS_WITH(tg::conv2d_backward_input(dy, w, x.shape(), {.stride = {2, 2}}),
                    Catch::Contains("conv2d_backward_input: the direct algorithm"));
  CHECK(tg::get_conv2d_algorithm() == tg::Conv2dAlgorithm::direct);
}

TEST_CASE("set_conv2d_algorithm rejects values outside the enum", "[ops][conv2d][errors]") {
  CHECK_THROWS_WITH(tg::set_conv2d_algorithm(static_cast<tg::Conv2dAlgorithm>(7)),
                    Catch::Contains("unknown algorithm 7"));
}

TEST_CASE("conv2d gives the same results on one thread and on two", "[ops][conv2d][threads]") {
  int previous = tg::get_num_threads();
  auto algorithm = GENERATE(tg::Conv2dAlgorithm::gemm, tg::Conv2dAlgorithm::direct);
  if (algorithm == tg::Conv2dAlgorithm::direct && !tg::direct_conv2d_available()) return;
  INFO("algorithm " << (algorithm == tg::Conv2dAlgorithm::gemm ? "gemm" : "direct"));
  AlgorithmGuard guard(algorithm);
  tg::Generator gen(92);
  // N = 5 splits the batch 2 + 3 over two threads; N = 1 runs on one thread with Eigen threading.
  for (std::int64_t N : {5, 1}) {
    INFO("N = " << N);
    Tensor x = tg::test::uniform({N, 6, 14, 14}, gen, -1, 1).to(tg::kFloat32);
    Tensor w = tg::test::uniform({16, 6, 5, 5}, gen, -1, 1).to(tg::kFloat32);
    Tensor b = tg::test::uniform({16}, gen, -1, 1).to(tg::kFloat32);
    Tensor G = tg::test::uniform({N, 16, 10, 10}, gen, -1, 1).to(tg::kFloat32);
    std::vector<std::vector<Tensor>> results;
    for (int threads : {1, 2}) {
      tg::set_num_threads(threads);
      Tensor xt = x.detach().requires_grad_(), wt = w.detach().requires_grad_(), bt = b.detach().requires_grad_();
      Tensor y = tg::conv2d(xt, wt, bt);
      (y * G).sum().backward();
      results.push_back({y, xt.grad(), wt.grad(), bt.grad()});
    }
    tg::set_num_threads(previous);
    for (std::size_t r = 0; r < results[0].size(); ++r) {
      INFO("result " << r << " (y, dx, dw, db)");
      CHECK(allclose(results[0][r], results[1][r], 1e-5, 1e-4));
    }
  }
  tg::set_num_threads(previous);
}
