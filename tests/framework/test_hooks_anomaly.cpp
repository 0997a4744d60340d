// SPDX-License-Identifier: MIT
// Tensor hooks, anomaly mode (DetectAnomalyGuard) and the tape's growth warning.
#include <cmath>
#include <limits>

#include "test_util.hpp"

using tg::Tape;
using tg::Tensor;

namespace {

// Captures warnings for a scope, and restores the default handler and threshold after.
struct WarningCapture {
  std::vector<std::string> messages;
  std::size_t threshold = tg::tape_warning_threshold();
  WarningCapture() {
    tg::set_warning_handler([this](const std::string& m) { messages.push_back(m); });
  }
  ~WarningCapture() {
    tg::set_warning_handler({});
    tg::set_tape_warning_threshold(threshold);
  }
};

}  // namespace

TEST_CASE("a hook reads the gradient of an intermediate tensor", "[hooks]") {
  Tensor x = Tensor{{1.0, 2.0}}.requires_grad_();
  Tensor y = x * 3;
  Tensor seen;
  y.register_hook([&](const Tensor& g) {
    seen = g.clone();
    return Tensor();  // keep it
  });
  (y * y).sum().backward();
  CHECK(seen.tolist() == std::vector<double>{6, 12});  // d(y^2)/dy = 2y
  CHECK(x.grad().tolist() == std::vector<double>{18, 36});
}

TEST_CASE("a hook's result replaces the gradient that flows on", "[hooks]") {
  Tensor x = Tensor{{1.0, 2.0}}.requires_grad_();
  Tensor y = x * 3;
  int first = y.register_hook([](const Tensor& g) { return g * 10; });
  int second = y.register_hook([](const Tensor& g) { return g + 1; });  // runs after the first
  CHECK(second != first);
  y.sum().backward();
  CHECK(x.grad().tolist() == std::vector<double>{33, 33});  // (1 * 10 + 1) * 3
}

TEST_CASE("a leaf's hook sees its whole gradient from one backward, once", "[hooks]") {
  Tensor x = Tensor{{1.0, 2.0}}.requires_grad_();
  int calls = 0;
  x.register_hook([&](const Tensor& g) {
    ++calls;
    CHECK(g.tolist() == std::vector<double>{5, 5});  // 2 from x * 2, 3 from x * 3
    return g * 2;
  });
  (x * 2 + x * 3).sum().backward();
  CHECK(calls == 1);
  CHECK(x.grad().tolist() == std::vector<double>{10, 10});
  // A second backward adds its own hooked gradient to .grad.
  (x * 2 + x * 3).sum().backward();
  CHECK(calls == 2);
  CHECK(x.grad().tolist() == std::vector<double>{20, 20});
}

TEST_CASE("a hook on the root leaf and with retain_grad", "[hooks]") {
  Tensor x = Tensor{{1.0}}.requires_grad_();
  x.register_hook([](const Tensor& g) { return g * 4; });
  x.backward(Tensor{{1.0}});
  CHECK(x.grad().tolist() == std::vector<double>{4});
  Tensor a = Tensor{{2.0}}.requires_grad_();
  Tensor b = a * 5;
  b.retain_grad();
  b.register_hook([](const Tensor& g) { return g * 7; });
  b.sum().backward();
  CHECK(b.grad().tolist() == std::vector<double>{7});  // the retained gradient is the hooked one
  CHECK(a.grad().tolist() == std::vector<double>{35});
}

TEST_CASE("hooks can be removed, and misuse is a clear error", "[hooks][errors]") {
  Tensor x = Tensor{{1.0}}.requires_grad_();
  Tensor y = x * 2;
  int h = y.register_hook([](const Tensor& g) { return g * 100; });
  y.remove_hook(h);
  y.sum().backward();
  CHECK(x.grad().tolist() == std::vector<double>{2});
  CHECK_THROWS_WITH(y.remove_hook(h), Catch::Contains("remove_hook: this tensor has no hook with handle"));
  CHECK_THROWS_AS(tg::ones({2}).register_hook([](const Tensor& g) { return g; }), tg::AutogradError);
  CHECK_THROWS_WITH(tg::ones({2}).register_hook([](const Tensor& g) { return g; }),
                    Catch::Contains("does not require grad") && Catch::Contains("requires_grad_()"));
  CHECK_THROWS_WITH(x.register_hook(nullptr), Catch::Contains("the hook is empty"));
  Tensor z = x * 2;
  z.register_hook([](const Tensor&) { return tg::ones({3}); });
  CHECK_THROWS_AS(z.sum().backward(), tg::ShapeError);
  Tensor w = x * 2;
  w.register_hook([](const Tensor&) { return tg::ones({3}); });
  CHECK_THROWS_WITH(w.sum().backward(), Catch::Contains("returned a gradient of shape [3]") &&
                                            Catch::Contains("the gradient's shape [1, 1]"));
}

TEST_CASE("anomaly mode names the op that first produces a NaN or Inf in forward", "[anomaly]") {
  Tensor x = Tensor{{1.0, 0.0}}.requires_grad_();
  CHECK_NOTHROW(tg::log(x));  // off by default: -inf flows on silently
  tg::DetectAnomalyGuard anomaly;
  CHECK(tg::is_anomaly_enabled());
  Tape::current().clear();
  Tensor y = x * 2;
  CHECK_THROWS_AS(tg::log(y), tg::AnomalyError);
  CHECK_THROWS_WITH(tg::log(y), Catch::Contains("anomaly: log (tape entry #") &&
                                    Catch::Contains("produced 1 NaN/Inf value(s) in its output [1, 2]") &&
                                    Catch::Contains("its inputs were finite, so the op itself produced them"));
  // A NaN that was already in a leaf is traced to the leaf, not blamed on the op.
  Tensor bad = Tensor{{1.0, std::numeric_limits<double>::quiet_NaN()}}.requires_grad_();
  CHECK_THROWS_WITH(bad * 2,
                    Catch::Contains("anomaly: mul") &&
                        Catch::Contains("its input 0 [1, 2] already held NaN/Inf (a leaf: data or a parameter)"));
}

TEST_CASE("anomaly mode names the op whose backward first produces a NaN or Inf", "[anomaly]") {
  Tensor x = Tensor{{4.0, 0.0}}.requires_grad_();
  {
    Tensor y = tg::pow(x, 0.5).sum();  // finite forward; d/dx x^0.5 = inf at 0
    CHECK_NOTHROW(y.backward());       // off: no check
  }
  x.set_grad(Tensor());
  tg::DetectAnomalyGuard anomaly;
  Tensor y = tg::pow(x, 0.5).sum();
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("anomaly: the backward of pow (tape entry #") &&
                                      Catch::Contains("gradient of its input 0 [1, 2]"));
}

TEST_CASE("anomaly mode is off again after its guard", "[anomaly]") {
  {
    tg::DetectAnomalyGuard anomaly;
    CHECK(tg::is_anomaly_enabled());
  }
  CHECK(!tg::is_anomaly_enabled());
  Tensor x = Tensor{{0.0}}.requires_grad_();
  CHECK_NOTHROW(tg::log(x));
}

TEST_CASE("the tape warns once when entries pile up without a backward", "[tape][memory]") {
  WarningCapture capture;
  tg::set_tape_warning_threshold(2000);
  Tape::current().clear();
  Tensor x = tg::ones({4}, {.requires_grad = true});
  Tensor total = tg::zeros({});
  for (int i = 0; i < 2000; ++i) total = total + (x * 2).sum();  // the classic leak: the graph of every step stays
  REQUIRE(capture.messages.size() == 1);
  CHECK_THAT(capture.messages[0], Catch::Contains("live entries") && Catch::Contains("tg::NoGradGuard") &&
                                      Catch::Contains("loss.item()") && Catch::Contains("set_tape_warning_threshold"));
  for (int i = 0; i < 2000; ++i) total = total + (x * 2).sum();
  CHECK(capture.messages.size() == 1);  // once
  total.backward();
  Tape::current().clear();
}

TEST_CASE("evaluation under NoGradGuard records nothing and never warns", "[tape][memory]") {
  WarningCapture capture;
  tg::set_tape_warning_threshold(100);
  Tape::current().clear();
  Tensor x = tg::ones({4}, {.requires_grad = true});
  Tensor total = tg::zeros({});
  {
    tg::NoGradGuard no_grad;
    for (int i = 0; i < 3000; ++i) total = total + (x * 2).sum();
  }
  CHECK(Tape::current().size() == 0);
  CHECK(capture.messages.empty());
}

TEST_CASE("thrown-away results are pruned and do not trigger the warning", "[tape][memory]") {
  WarningCapture capture;
  tg::set_tape_warning_threshold(1500);
  Tape::current().clear();
  Tensor x = tg::ones({4}, {.requires_grad = true});
  for (int i = 0; i < 3000; ++i) {
    Tensor y = (x * 2).sum();  // dropped at once
  }
  CHECK(capture.messages.empty());
  CHECK(Tape::current().size() < 1500);
  tg::set_tape_warning_threshold(0);  // 0: never warn
  Tensor total = tg::zeros({});
  for (int i = 0; i < 3000; ++i) total = total + (x * 2).sum();
  CHECK(capture.messages.empty());
}
