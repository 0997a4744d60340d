// SPDX-License-Identifier: MIT
// Optimizer checkpoints: a resumed run continues bit-identically; a bad file changes nothing.
#include <cstdio>
#include <fstream>

#include "tapegrad/optim/adam.hpp"
#include "tapegrad/optim/checkpoint.hpp"
#include "test_util.hpp"

using tg::Tensor;

namespace {

// Three Adam steps with fixed gradients on `p`.
void steps(tg::Optimizer& opt, Tensor& p, int first, int count) {
  for (int i = first; i < first + count; ++i) {
    p.set_grad(tg::full(p.shape(), 0.1 * (i + 1)) * p.detach());
    opt.step();
  }
}

}  // namespace

TEST_CASE("save_optimizer and load_optimizer resume Adam bit for bit", "[optim][checkpoint]") {
  std::string path = "optim_checkpoint_test.safetensors";
  Tensor a = Tensor{{1.0, -2.0}, {0.5, 3.0}}.requires_grad_();
  tg::Adam straight({a}, 0.1);
  steps(straight, a, 0, 6);

  Tensor b = Tensor{{1.0, -2.0}, {0.5, 3.0}}.requires_grad_();
  {
    tg::Adam first({b}, 0.1);
    steps(first, b, 0, 3);
    tg::save_optimizer(first, path);
  }
  tg::Adam resumed({b}, 0.1);
  tg::load_optimizer(resumed, path);
  steps(resumed, b, 3, 3);
  CHECK(a.tolist() == b.tolist());

  // A truncated file is an IoError naming it, and leaves the optimizer as it was.
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  auto before = resumed.state_dict();
  CHECK_THROWS_WITH(tg::load_optimizer(resumed, path), Catch::Contains(path));
  auto after = resumed.state_dict();
  REQUIRE(before.size() == after.size());
  for (std::size_t i = 0; i < before.size(); ++i) CHECK(before[i].second.tolist() == after[i].second.tolist());

  // A file of an optimizer over other parameters names the file and the mismatch.
  Tensor c = tg::ones({3}).requires_grad_();
  tg::Adam other({c}, 0.1);
  steps(other, c, 0, 1);
  tg::save_optimizer(other, path);
  CHECK_THROWS_WITH(tg::load_optimizer(resumed, path), Catch::Contains(path));
  std::remove(path.c_str());
}
