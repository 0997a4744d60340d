// SPDX-License-Identifier: MIT
// The kernel levels (tapegrad/cpu.hpp): what the CPU reports, and every level this machine
// supports against the baseline on the GEMM-bound ops and conv2d's direct path.
#include <functional>
#include <limits>

#include "framework/ops/op_test_util.hpp"
#include "test_util.hpp"

namespace {

using tg::IsaLevel;
using tg::Tensor;

// Restores the level a test started with.
struct LevelGuard {
  IsaLevel before = tg::isa_level();
  ~LevelGuard() { tg::set_isa_level(before); }
};

std::vector<IsaLevel> supported_levels() {
  std::vector<IsaLevel> levels;
  for (IsaLevel l : {IsaLevel::baseline, IsaLevel::avx2, IsaLevel::avx512})
    if (l <= tg::cpu_features().supported) levels.push_back(l);
  return levels;
}

// The outputs and gradients of the ops whose kernels depend on the level (isa/gemm.hpp,
// isa/vecmath.hpp, the direct conv2d) on fixed inputs, at the current level.
std::vector<Tensor> level_dependent_results(tg::Dtype dtype) {
  tg::Generator gen(11);
  std::vector<Tensor> out;
  auto leaf = [&](const tg::Shape& shape) { return tg::test::uniform(shape, gen, -1, 1).to(dtype).requires_grad_(); };
  // matmul: a batch of small products (one thread, Eigen's small-size path) and one large
  // enough for Eigen's blocking and the second thread.
  for (auto [n, k, m] : {std::array<std::int64_t, 3>{7, 13, 5}, {70, 130, 90}, {300, 257, 200}}) {
    Tensor a = leaf({3, n, k}), b = leaf({k, m});
    Tensor y = tg::matmul(a, b);
    tg::sum(y * y).backward();
    out.insert(out.end(), {y.detach(), a.grad(), b.grad()});
  }
  // conv2d: stride 1 (the direct path at the avx512 level, im2col + GEMM below it) and 2.
  for (std::int64_t stride : {1, 2}) {
    Tensor x = leaf({4, 3, 20, 20}), w = leaf({16, 3, 3, 3}), b = leaf({16});
    Tensor y = tg::conv2d(x, w, b, {.stride = stride, .padding = 1});
    tg::sum(y * y).backward();
    out.insert(out.end(), {y.detach(), x.grad(), w.grad(), b.grad()});
  }
  // attention: every product and both transposed forms.
  Tensor q = leaf({2, 3, 9, 8}), k = leaf({2, 3, 11, 8}), v = leaf({2, 3, 11, 6});
  Tensor o = tg::scaled_dot_product_attention(q, k, v);
  tg::sum(o * o).backward();
  out.insert(out.end(), {o.detach(), q.grad(), k.grad(), v.grad()});
  // The elementwise functions and softmax rows, on 1000 values (vector bodies and tails).
  Tensor x = leaf({10, 100});
  Tensor w = leaf({100}), b = leaf({100});
  auto positive = [&] { return tg::abs(x) + 0.1; };
  std::vector<std::function<Tensor()>> functions = {[&] { return tg::exp(x); },
                                                    [&] { return tg::log(positive()); },
                                                    [&] { return tg::sigmoid(x); },
                                                    [&] { return tg::tanh(x * 3); },
                                                    [&] { return tg::sqrt(positive()); },
                                                    [&] { return tg::rsqrt(positive()); },
                                                    [&] { return tg::log1p(positive()); },
                                                    [&] { return tg::silu(x); },
                                                    [&] { return tg::softmax(x * 5, 1); },
                                                    [&] { return tg::log_softmax(x * 5, 1); },
                                                    [&] { return tg::layer_norm(x * 2, {100}, w, b); }};
  for (const auto& f : functions) {
    Tensor y = f();
    tg::sum(y * y).backward();
    out.insert(out.end(), {y.detach(), x.grad()});
    out.push_back(w.grad().defined() ? w.grad() : tg::zeros({1}, {.dtype = dtype}));
    std::vector<Tensor> leaves{x, w, b};
    tg::zero_grad(leaves);
  }
  return out;
}

// max |a - b| <= tol max |b|: the error of a sum in another order scales with its terms, not
// with the result (a gradient entry can cancel to near zero).
bool close_to_scale(const Tensor& a, const Tensor& b, double tol) {
  tg::NoGradGuard no_grad;
  double scale = tg::max(tg::abs(b)).item<double>();
  double error = tg::max(tg::abs(a.to(tg::kFloat64) - b.to(tg::kFloat64))).item<double>();
  INFO("max error " << error << " at scale " << scale);
  return error <= tol * scale;
}

}  // namespace

TEST_CASE("cpu_features reports a consistent CPU and the level in use", "[isa]") {
  tg::CpuFeatures f = tg::cpu_features();
  CHECK(!f.model.empty());
  CHECK(f.active <= f.supported);
  CHECK(f.active == tg::isa_level());
  if (f.supported >= IsaLevel::avx2) CHECK((f.avx2 && f.fma && f.avx && f.sse4_2));
  if (f.supported == IsaLevel::avx512) CHECK((f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl));
  if (!f.avx2 || !f.fma) CHECK(f.supported == IsaLevel::baseline);
  std::string summary = tg::cpu_summary();
  CHECK_THAT(summary, Catch::Contains(f.model) && Catch::Contains(std::string(tg::isa_name(f.active))));
  CHECK(tg::isa_name(IsaLevel::baseline) == "baseline");
  CHECK(tg::isa_name(IsaLevel::avx2) == "avx2");
  CHECK(tg::isa_name(IsaLevel::avx512) == "avx512");
}

TEST_CASE("set_isa_level moves between the supported levels and refuses the others", "[isa]") {
  LevelGuard guard;
  for (IsaLevel l : supported_levels()) {
    tg::set_isa_level(l);
    CHECK(tg::isa_level() == l);
    CHECK(tg::cpu_features().active == l);
    CHECK(tg::direct_conv2d_available() == (l == IsaLevel::avx512));
  }
  if (tg::cpu_features().supported < IsaLevel::avx512)
    CHECK_THROWS_WITH(tg::set_isa_level(IsaLevel::avx512),
                      Catch::Contains("set_isa_level") && Catch::Contains("cannot run the avx512 kernels"));
  CHECK_THROWS_AS(tg::set_isa_level(static_cast<IsaLevel>(7)), tg::ValueError);
  // The direct algorithm, set by hand, is refused below avx512 rather than silently replaced.
  tg::set_isa_level(IsaLevel::baseline);
  CHECK_THROWS_WITH(tg::set_conv2d_algorithm(tg::Conv2dAlgorithm::direct),
                    Catch::Contains("avx512") && Catch::Contains("automatic or gemm"));
}

TEST_CASE("every supported kernel level computes what the baseline computes", "[isa]") {
  LevelGuard guard;
  for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64}) {
    tg::set_isa_level(IsaLevel::baseline);
    std::vector<Tensor> baseline = level_dependent_results(dtype);
    // Float sums of up to 900 products in another order (FMA, vector width), and elementwise
    // functions from other polynomial evaluations: a few ulps of the largest term.
    const double tol = dtype == tg::kFloat32 ? 1e-5 : 1e-13;
    for (IsaLevel l : supported_levels()) {
      tg::set_isa_level(l);
      INFO("level " << tg::isa_name(l) << ", " << tg::dtype_name(dtype));
      std::vector<Tensor> got = level_dependent_results(dtype);
      REQUIRE(got.size() == baseline.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        INFO("result " << i << ", shape " << got[i].shape());
        CHECK(close_to_scale(got[i], baseline[i], tol));
      }
      // And at one level, the same bits every time.
      std::vector<Tensor> again = level_dependent_results(dtype);
      for (std::size_t i = 0; i < got.size(); ++i) CHECK(tg::test::allclose(again[i], got[i], 0, 0));
    }
  }
  if (supported_levels().size() == 1) TG_SKIP("this CPU runs only the baseline kernels: nothing to compare");
}

TEST_CASE("e^-inf is exactly 0 at every level: exp, softmax and attention under a mask", "[isa]") {
  LevelGuard guard;
  const double inf = std::numeric_limits<double>::infinity();
  for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64}) {
    INFO(tg::dtype_name(dtype));
    // 100 entries: Eigen's vectorised path (its clamp gave 2.9e-39 for float, 5.6e-309 for double).
    Tensor x = tg::full({100}, -inf, {.dtype = dtype});
    CHECK(tg::max(tg::exp(x)).item<double>() == 0);
    Tensor far = tg::full({100}, -1000.0, {.dtype = dtype});
    CHECK(tg::max(tg::exp(far)).item<double>() == 0);
    CHECK(tg::exp(tg::zeros({100}, {.dtype = dtype})).sum().item<double>() == 100);
    // A causal mask: row i keeps keys 0..i; every removed entry is exactly 0, as in PyTorch.
    Tensor upper = tg::triu(tg::ones({64, 64}), 1) > 0.5;
    Tensor p = tg::softmax(tg::masked_fill(tg::zeros({64, 64}, {.dtype = dtype}), upper, -inf), 1);
    Tensor above = tg::triu(p, 1);
    CHECK(tg::max(tg::abs(above)).item<double>() == 0);
  }
}
