// SPDX-License-Identifier: MIT
// multinomial: class indices drawn from rows of (unnormalised) probabilities.
#include <cmath>
#include <vector>

#include "ops/kernels.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

// Each draw takes u ~ U[0, 1) times the row's remaining total and walks the running sum to the
// first class whose share covers it (classes of weight 0 are never picked). Without
// replacement a drawn class's weight is set to 0 before the next draw, as torch.multinomial.
Tensor multinomial(const Tensor& probs, std::int64_t num_samples, bool replacement, Generator& gen) {
  constexpr const char* kOp = "multinomial";
  kernels::check_defined(kOp, probs, "probs");
  if (!probs.is_floating_point())
    fail<DtypeError>("{}: probs are {} {}; give floating weights, e.g. probs.to(tg::kFloat32)", kOp,
                     dtype_name(probs.dtype()), probs.shape());
  if (probs.dim() != 1 && probs.dim() != 2)
    fail<ShapeError>("{}: probs must be [C] or [N, C] (one row of class weights per draw), got {}", kOp, probs.shape());
  const std::int64_t classes = probs.size(probs.dim() - 1), rows = probs.dim() == 1 ? 1 : probs.size(0);
  if (num_samples <= 0) fail<ValueError>("{}: num_samples is {}; it must be at least 1", kOp, num_samples);
  if (classes == 0) fail<ShapeError>("{}: probs {} have no classes to draw from", kOp, probs.shape());
  Shape out_shape = probs.dim() == 1 ? Shape{num_samples} : Shape{rows, num_samples};
  Tensor out = empty(out_shape, {.dtype = kInt64});
  Tensor p64 = kernels::cast(probs, kFloat64);
  const double* p = p64.data<double>();
  std::int64_t* o = out.data<std::int64_t>();
  std::vector<double> w(static_cast<std::size_t>(classes));
  for (std::int64_t r = 0; r < rows; ++r) {
    std::int64_t positive = 0;
    for (std::int64_t c = 0; c < classes; ++c) {
      const double v = p[r * classes + c];
      if (!std::isfinite(v) || v < 0)
        fail<ValueError>("{}: probs[{}] of row {} is {}; every weight must be finite and >= 0", kOp, c, r, v);
      w[static_cast<std::size_t>(c)] = v;
      positive += v > 0;
    }
    if (positive == 0)
      fail<ValueError>("{}: row {} of probs sums to 0; give at least one positive weight per row", kOp, r);
    if (!replacement && num_samples > positive)
      fail<ValueError>(
          "{}: cannot draw {} samples without replacement from row {}, which has only {} classes of positive "
          "weight; draw fewer or pass replacement = true",
          kOp, num_samples, r, positive);
    for (std::int64_t s = 0; s < num_samples; ++s) {
      double total = 0;
      for (double v : w) total += v;
      const double target = gen.uniform() * total;
      double running = 0;
      std::int64_t pick = -1;
      for (std::int64_t c = 0; c < classes; ++c) {
        if (w[static_cast<std::size_t>(c)] <= 0) continue;
        pick = c;  // the last positive class catches rounding at the top of the range
        running += w[static_cast<std::size_t>(c)];
        if (target < running) break;
      }
      o[r * num_samples + s] = pick;
      if (!replacement) w[static_cast<std::size_t>(pick)] = 0;
    }
  }
  return out;
}

}  // namespace tg
