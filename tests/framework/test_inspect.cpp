// SPDX-License-Identifier: MIT
// The inspection tools (inspect.hpp): the printed tape, the DOT graph, the backward trace
// (with a golden trace of the seed experiment's first step), gradient paths, and the tape's
// inspection API (entry_backward, producer, input, output).
#include <cstdlib>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "test_util.hpp"

using tg::Tape;
using tg::Tensor;

namespace {

// The seed experiment's first step, as examples/edge_detection runs it: Conv2D({1, 2}) with
// generator seed 0, loss = ((Y_hat - Y)^2).sum(); with notes kept, so that constants print.
struct SeedStep {
  tg::TapeNotes notes;
  Tensor X = tg::test::edge_image();
  Tensor Y = tg::corr2d(X, Tensor{{1.0, -1.0}});
  tg::Generator gen{0};
  tg::Conv2D conv{tg::Shape{1, 2}, gen};
  Tensor Y_hat, loss;
  SeedStep() {
    Tape::current().clear();
    Y_hat = conv(X);
    loss = (Y_hat - Y).square().sum();
  }
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("the printed tape lists each entry with its inputs, output and saved bytes", "[inspect][tape]") {
  SeedStep s;
  std::vector<std::string> text = lines(fmt::format("{}", Tape::current()));
  INFO(fmt::format("{}", Tape::current()));
  REQUIRE(text.size() == 6);
  // corr2d saves X (for dK; X needs no gradient, so K is not saved): 6 x 8 floats. square
  // saves its input, 6 x 7 floats.
  CHECK(text[0] == "tape: 5 entries, 360 B saved for backward");
  auto has = [&](int line, const std::string& part) {
    INFO("line " << line << ": " << text[static_cast<std::size_t>(line)] << "\nexpected to contain: " << part);
    CHECK(text[static_cast<std::size_t>(line)].find(part) != std::string::npos);
  };
  has(1, "#0  corr2d");
  has(1, "in: const0 [6, 8] no grad, weight [1, 2] grad");
  has(1, "->  %0 [6, 7]");
  has(1, "saved 192 B");
  has(2, "#1  add");
  has(2, "in: %0 [6, 7] grad, bias [1] grad");
  has(3, "#2  sub");
  has(3, "in: %1 [6, 7] grad, const1 [6, 7] no grad");
  has(4, "#3  square");
  has(4, "saved 168 B");
  has(5, "#4  sum");
  has(5, "->  %4 []");
  CHECK(text[2].find("saved") == std::string::npos);  // add keeps nothing
  CHECK(tg::TapeView().saved_bytes() == 360);
}

TEST_CASE("the printed tape marks freed outputs and inputs left out", "[inspect][tape]") {
  Tape::current().clear();
  tg::TapeNotes notes;
  Tensor x = tg::ones({2, 3, 4, 4}, {.requires_grad = true});
  Tensor w = tg::ones({1, 3, 3, 3}, {.requires_grad = true});
  Tensor y = tg::conv2d(x, w);  // no bias: an input left out
  { Tensor dropped = x * 2; }   // its output is freed at once
  std::string text = fmt::format("{}", Tape::current());
  INFO(text);
  CHECK(text.find("leaf0 [2, 3, 4, 4] grad, leaf1 [1, 3, 3, 3] grad, none") != std::string::npos);
  CHECK(text.find("%1 (freed)") != std::string::npos);
}

TEST_CASE("saved bytes count each buffer an entry keeps once", "[inspect][tape]") {
  Tape::current().clear();
  Tensor a = tg::ones({4, 4}, {.requires_grad = true});
  Tensor b = tg::ones({4, 4}, {.requires_grad = true});
  Tensor c = tg::ones({4, 4});
  Tensor y1 = a * b;  // both saved: 2 x 64 bytes
  Tensor y2 = a * a;  // the same buffer twice: 64 bytes
  Tensor y3 = a * c;  // only c (the gradient of a reads c): 64 bytes
  Tensor y4 = a + b;  // nothing
  Tensor y5 = tg::max_pool2d(tg::ones({1, 1, 4, 4}, {.requires_grad = true}), {{2, 2}});  // 4 int64 argmax
  Tensor y6 = tg::exp(a);  // its own output: 64 bytes, not held by the entry
  const tg::TapeView view;
  REQUIRE(view.size() == 6);
  CHECK(view.saved_bytes(0) == 128);
  CHECK(view.saved_bytes(1) == 64);
  CHECK(view.saved_bytes(2) == 64);
  CHECK(view.saved_bytes(3) == 0);
  CHECK(view.saved_bytes(4) == 32);
  CHECK(view.saved_bytes(5) == 64);
}

TEST_CASE("to_dot draws tensors and ops with names and shapes", "[inspect][dot]") {
  SeedStep s;
  std::string dot = tg::to_dot(s.loss, s.conv.named_parameters());
  INFO(dot);
  CHECK(dot.rfind("digraph tapegrad {", 0) == 0);
  CHECK(dot.find("op0 [shape=box, style=rounded, label=\"#0 corr2d\"]") != std::string::npos);
  CHECK(dot.find("op4 [shape=box, style=rounded, label=\"#4 sum\"]") != std::string::npos);
  // Leaves: the parameters by their module names (filled), the constants dashed.
  CHECK(dot.find("\"weight\" [shape=ellipse, label=\"weight\\n[1, 2]\", style=filled") != std::string::npos);
  CHECK(dot.find("\"bias\" [shape=ellipse, label=\"bias\\n[1]\", style=filled") != std::string::npos);
  CHECK(dot.find("\"const0\" [shape=ellipse, label=\"const0\\n[6, 8]\", style=dashed]") != std::string::npos);
  // Edges carry shapes; the root is bold.
  CHECK(dot.find("\"weight\" -> op0 [label=\"[1, 2]\"]") != std::string::npos);
  CHECK(dot.find("t0 -> op1 [label=\"[6, 7]\"]") != std::string::npos);
  CHECK(dot.find("t3 -> op4 [label=\"[6, 7]\"]") != std::string::npos);
  CHECK(dot.find("t4 [shape=ellipse, label=\"%4\\n[]\", penwidth=2]") != std::string::npos);
  // 3 header lines, 3 lines per op (node, output, edge), 4 leaves, 8 input edges, and }.
  CHECK(std::count(dot.begin(), dot.end(), '\n') == 31);
  CHECK(tg::to_dot(s.loss, s.conv.named_parameters()) == dot);  // deterministic
  // Names given by the caller win over the tensors' own.
  std::string renamed = tg::to_dot(s.loss, {{"conv.weight", s.conv.weight}});
  CHECK(renamed.find("\"conv.weight\" -> op0") != std::string::npos);
  CHECK(renamed.find("\"bias\" -> op1") != std::string::npos);
}

TEST_CASE("dot_escape backslashes quotes and backslashes, and nothing else", "[inspect][dot]") {
  CHECK(tg::dot_escape(R"(conv "a"\b)") == R"(conv \"a\"\\b)");
  CHECK(tg::dot_escape("features.0.weight\n[6, 1]") == "features.0.weight\n[6, 1]");
  CHECK(tg::dot_escape("") == "");
}

TEST_CASE("to_dot draws only what the root depends on, and refuses a freed graph", "[inspect][dot]") {
  Tape::current().clear();
  Tensor x = tg::ones({2}, {.requires_grad = true}).set_name("x");
  Tensor unrelated = x * 3;
  Tensor y = (x + 1).sum();
  std::string dot = tg::to_dot(y);
  CHECK(dot.find("mul") == std::string::npos);
  CHECK(dot.find("#1 add") != std::string::npos);
  CHECK(
      tg::to_dot(x).find("\"x\" [shape=ellipse, label=\"x\\n[2]\", style=filled, fillcolor=\"#cfe2f3\", penwidth=2]") !=
      std::string::npos);
  y.backward();
  CHECK_THROWS_WITH(tg::to_dot(y),
                    Catch::Contains("to_dot: the tensor [] is not on this thread's tape") && Catch::Contains("retain"));
}

TEST_CASE("the tape's inspection API runs one entry's backward alone", "[inspect][tape]") {
  Tape::current().clear();
  Tensor a = Tensor{{1.0, 2.0}}.requires_grad_();
  Tensor b = Tensor{{3.0, 4.0}}.requires_grad_();
  Tensor y = a * b;
  Tensor z = (y + a).sum();
  Tape& tape = Tape::current();
  const tg::TapeView view(tape);
  REQUIRE(tape.size() == 3);
  CHECK(view.index_of(y) == 0);
  CHECK(view.index_of(z) == 2);
  CHECK(view.index_of(a) == -1);
  CHECK(view.producer(1, 0) == 0);   // add's first input is mul's output
  CHECK(view.producer(1, 1) == -1);  // its second is the leaf a
  CHECK(view.input(1, 1).impl_ptr() == a.impl_ptr());
  CHECK(view.output(0).impl_ptr() == y.impl_ptr());
  std::vector<Tensor> g = tape.entry_backward(0, std::vector<Tensor>{Tensor{{10.0, 100.0}}});
  REQUIRE(g.size() == 2);
  CHECK(g[0].tolist() == std::vector<double>{30, 400});  // dy * b
  CHECK(g[1].tolist() == std::vector<double>{10, 200});  // dy * a
  CHECK(!a.grad().defined());                            // nothing accumulated
  CHECK(tape.size() == 3);                               // nothing freed
  CHECK_THROWS_WITH(tape.entry_backward(7, g), Catch::Contains("Tape::entry_backward: no entry #7"));
  CHECK_THROWS_WITH(tape.entry_backward(0, std::vector<Tensor>{tg::ones({3})}),
                    Catch::Contains("output shape [1, 2] but the gradient given has shape [3]"));
  CHECK_THROWS_WITH(tape.entry_backward(0, g), Catch::Contains("has 1 output(s) but 2 gradient(s) were given"));
}

TEST_CASE("gradient paths add up to the gradient of a tensor used several times", "[inspect][paths]") {
  Tape::current().clear();
  Tensor x = Tensor{{0.5, -2.0, 3.0}}.requires_grad_().set_name("x");
  Tensor y = x * x;        // x reaches y twice
  Tensor z = (y + x) * y;  // y reaches z twice, x once more
  Tensor loss = z.sum();
  std::vector<tg::GradientPath> paths = tg::gradient_paths(loss, x);
  // loss -> z = u * y with u = y + x: through u (-> y (x2), -> x) and through y (x2): 5 paths.
  REQUIRE(paths.size() == 5);
  Tensor total = tg::zeros({1, 3});
  for (const auto& p : paths) total = total + p.contribution;
  loss.backward(Tensor(), true);
  CHECK(tg::test::allclose(total, x.grad(), 1e-6, 1e-6));
  // Closed forms: dz/dx = (2x + 1) * x^2 + (x^2 + x) * 2x = 4x^3 + 3x^2.
  std::vector<double> xs = x.tolist(), got = total.tolist();
  for (std::size_t i = 0; i < xs.size(); ++i) CHECK(got[i] == Approx(4 * std::pow(xs[i], 3) + 3 * xs[i] * xs[i]));
  // The direct path loss <- z (input 0) <- u = y + x (input 1) contributes y = x^2.
  bool found = false;
  for (const auto& p : paths)
    if (p.steps.size() == 3 && p.steps[1].op == "mul" && p.steps[1].input == 0 && p.steps[2].op == "add" &&
        p.steps[2].input == 1) {
      found = true;
      CHECK(tg::test::allclose(p.contribution, x * x, 1e-6, 1e-6));
      CHECK(tg::to_string(p).rfind("sum #3 (input 0) <- mul #2 (input 0) <- add #1 (input 1): tensor(", 0) == 0);
    }
  CHECK(found);
}

TEST_CASE("gradient_paths rejects what it cannot answer", "[inspect][paths][errors]") {
  Tape::current().clear();
  Tensor x = tg::ones({3}, {.requires_grad = true});
  Tensor y = x * 2;
  CHECK_THROWS_WITH(tg::gradient_paths(y, x), Catch::Contains("the root must have one element"));
  CHECK_THROWS_WITH(tg::gradient_paths(y.sum(), y), Catch::Contains("must be a leaf"));
  // A chain that doubles its paths at every step: 2^12 paths.
  Tensor h = x;
  for (int i = 0; i < 12; ++i) h = h * h;
  CHECK_THROWS_WITH(tg::gradient_paths(h.sum(), x, 1000), Catch::Contains("more than 1000 paths"));
  Tensor loss = y.sum();
  loss.backward();
  CHECK_THROWS_WITH(tg::gradient_paths(loss, x), Catch::Contains("before backward()"));
}

TEST_CASE("a backward trace records each step's gradients", "[inspect][trace]") {
  SeedStep s;
  tg::BackwardTrace trace;
  {
    tg::ObserveTape watch(trace);
    s.loss.backward();
  }
  const auto& steps = trace.steps();
  REQUIRE(steps.size() == 5);
  std::vector<std::string> ops;
  for (const auto& step : steps) ops.push_back(step.op);
  CHECK(ops == std::vector<std::string>{"sum", "square", "sub", "add", "corr2d"});
  CHECK(steps[0].index == 4);
  CHECK(steps[0].grad_output.values == std::vector<double>{1});
  // sub's gradient flows to %1 (add's output); Y needs none.
  REQUIRE(steps[2].inputs.size() == 1);
  CHECK(steps[2].inputs[0].source == "%1");
  // corr2d gives the weight dK = corr2d(X, dY_hat) with dY_hat = 2 (Y_hat - Y); a 6 x 7
  // gradient has 42 > 16 values, so only its norm is kept.
  Tensor dY_hat = 2 * (s.Y_hat.detach() - s.Y);
  CHECK(steps[3].grad_output.values.empty());
  CHECK(steps[3].grad_output.norm == Approx(std::sqrt((dY_hat * dY_hat).sum().item<double>())));
  REQUIRE(steps[4].inputs.size() == 1);
  CHECK(steps[4].inputs[0].source == "weight");
  CHECK(tg::test::allclose(tg::from_vector(steps[4].inputs[0].grad.values, {1, 2}), tg::corr2d(s.X, dY_hat)));
  CHECK(tg::test::allclose(s.conv.weight.grad(), tg::corr2d(s.X, dY_hat)));
  // The bias: add sums dY_hat back to [1].
  REQUIRE(steps[3].inputs.size() == 2);
  CHECK(steps[3].inputs[1].source == "bias");
  CHECK(steps[3].inputs[1].grad.values[0] == Approx(dY_hat.sum().item<double>()));
  CHECK_THROWS_WITH(tg::BackwardTrace(-1), Catch::Contains("max_values must be >= 0"));
}

// The golden trace: the seed experiment's first step, as JSON. Set TAPEGRAD_UPDATE_GOLDEN=1
// to rewrite it after a deliberate change, and review the diff.
TEST_CASE("the seed experiment's first backward matches its golden trace", "[inspect][trace]") {
  SeedStep s;
  tg::BackwardTrace trace;
  {
    tg::ObserveTape watch(trace);
    s.loss.backward();
  }
  const std::string path = tg::test::fixture("traces/seed_first_step.json");
  if (const char* update = std::getenv("TAPEGRAD_UPDATE_GOLDEN"); update && std::string(update) == "1")
    tg::write_file_atomic(path, trace.to_json());
  nlohmann::json golden = nlohmann::json::parse(tg::test::read_bytes(path));
  nlohmann::json now = nlohmann::json::parse(trace.to_json());
  // Everything but the numbers must match exactly; numbers to float precision.
  std::function<void(const nlohmann::json&, const nlohmann::json&, const std::string&)> same =
      [&](const nlohmann::json& a, const nlohmann::json& b, const std::string& where) {
        INFO(where);
        REQUIRE(a.type() == b.type());
        if (a.is_number_float()) {
          CHECK(a.get<double>() == Approx(b.get<double>()).epsilon(1e-5).margin(1e-6));
        } else if (a.is_array()) {
          REQUIRE(a.size() == b.size());
          for (std::size_t i = 0; i < a.size(); ++i) same(a[i], b[i], where + "/" + std::to_string(i));
        } else if (a.is_object()) {
          REQUIRE(a.size() == b.size());
          for (auto it = a.begin(); it != a.end(); ++it) {
            REQUIRE(b.contains(it.key()));
            same(it.value(), b[it.key()], where + "/" + it.key());
          }
        } else {
          CHECK(a == b);
        }
      };
  same(now, golden, "trace");
}

TEST_CASE("every installed observer sees what happens while it is installed", "[inspect][trace]") {
  Tape::current().clear();
  Tensor x = tg::ones({2}, {.requires_grad = true});
  tg::BackwardTrace outer, inner;
  {
    tg::ObserveTape a(outer);
    (x * 2).sum().backward();
    {
      tg::ObserveTape b(inner);
      (x * 3).sum().backward();
    }
    (x * 4).sum().backward();
  }
  (x * 5).sum().backward();
  CHECK(outer.steps().size() == 6);  // three backward() calls of two entries each
  CHECK(inner.steps().size() == 2);
}
