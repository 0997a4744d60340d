// SPDX-License-Identifier: MIT
// The seed notebook's numbers, and the example binary end to end.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "test_util.hpp"
#include "viz/explorer_page.hpp"

using tg::Tensor;

namespace {

// Runs the example binary and returns its metrics; fails the test if it exits non-zero.
nlohmann::json run_example(const std::string& args) {
  std::string metrics = fmt::format("edge_metrics_{}.json", std::hash<std::string>{}(args));
  std::string command = fmt::format("{} {} --metrics {} > /dev/null", TAPEGRAD_EDGE_DETECTION, args, metrics);
  REQUIRE(std::system(command.c_str()) == 0);
  std::ifstream in(metrics);
  nlohmann::json j = nlohmann::json::parse(in);
  std::remove(metrics.c_str());
  return j;
}

}  // namespace

TEST_CASE("corr2d reproduces the notebook's 3x3 by 2x2 example", "[seed]") {
  Tensor Y = tg::corr2d(Tensor{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}}, Tensor{{0, 1}, {2, 3}});
  CHECK(tg::test::allclose(Y, Tensor{{19, 25}, {37, 43}}, 0, 0));
  CHECK(fmt::format("{}", Y) == "tensor([[19., 25.],\n        [37., 43.]])");
}

TEST_CASE("the kernel [[1, -1]] finds the vertical edges", "[seed]") {
  Tensor Y = tg::corr2d(tg::test::edge_image(), Tensor{{1.0, -1.0}});
  REQUIRE(Y.shape() == tg::Shape{6, 7});
  for (std::int64_t i = 0; i < 6; ++i)
    for (std::int64_t j = 0; j < 7; ++j) CHECK(Y.at({i, j}) == (j == 1 ? 1.0f : j == 5 ? -1.0f : 0.0f));
  // A horizontal edge detector on the transposed image sees nothing: the edges are vertical.
  CHECK(tg::corr2d(tg::test::edge_image().t(), Tensor{{1.0, -1.0}}).square().sum().item() == 0);
}

TEST_CASE("edge_detection learns [[1, -1]] and bias 0 from every seed 0..9", "[seed][example]") {
  for (int seed = 0; seed < 10; ++seed) {
    INFO("seed " << seed);
    nlohmann::json m = run_example(fmt::format("--seed {}", seed));
    std::vector<double> loss = m["loss"];
    REQUIRE(loss.size() <= 60);
    CHECK(m["weight"][0].get<double>() == Approx(1.0).margin(0.01));
    CHECK(m["weight"][1].get<double>() == Approx(-1.0).margin(0.01));
    CHECK(m["bias"].get<double>() == Approx(0.0).margin(0.01));
    CHECK(loss.front() / loss.back() >= 1000);
  }
}

TEST_CASE("edge_detection --steps 20 is one run of the notebook cell", "[seed][example]") {
  nlohmann::json m = run_example("--steps 20 --seed 3 --lr 0.01");
  std::vector<double> loss = m["loss"];
  CHECK(loss.size() == 20);
  for (std::size_t i = 1; i < loss.size(); ++i) CHECK(loss[i] < loss[i - 1]);
  CHECK(m["lr"].get<double>() == 0.01);
  CHECK(m["seed"].get<int>() == 3);
}

TEST_CASE("edge_detection rejects bad flags", "[seed][example]") {
  std::string command = fmt::format("{} --lr -1 > /dev/null 2>&1", TAPEGRAD_EDGE_DETECTION);
  CHECK(std::system(command.c_str()) != 0);
}

TEST_CASE("edge_detection --threads 2 learns exactly what one thread learns", "[seed][example]") {
  nlohmann::json one = run_example("--steps 20 --seed 5 --threads 1");
  nlohmann::json two = run_example("--steps 20 --seed 5 --threads 2");
  CHECK(one["loss"] == two["loss"]);
  CHECK(one["weight"] == two["weight"]);
  CHECK(one["bias"] == two["bias"]);
  std::string command = fmt::format("{} --threads 0 > /dev/null 2>&1", TAPEGRAD_EDGE_DETECTION);
  CHECK(std::system(command.c_str()) != 0);
}

namespace {

// Runs edge_detection with `args` in a scratch directory; returns stdout and stderr together,
// and the exit status in `status`.
std::string run_in(const tg::test::TempDir& dir, const std::string& args, int& status) {
  const std::string out = (dir.path / "out.txt").string();
  std::string command =
      fmt::format("cd '{}' && {} {} > '{}' 2>&1", dir.path.string(), TAPEGRAD_EDGE_DETECTION, args, out);
  status = std::system(command.c_str());
  return tg::test::read_bytes(out);
}

}  // namespace

TEST_CASE("edge_detection --inspect prints the tape, the paths and a hand check that passes",
          "[seed][example][inspect]") {
  tg::test::TempDir dir("edge_inspect");
  int status = 1;
  std::string out = run_in(dir, "--steps 2 --inspect", status);
  REQUIRE(status == 0);
  CHECK_THAT(out, Catch::Contains("tape: 5 entries, 360 B saved for backward"));
  CHECK_THAT(out, Catch::Contains("corr2d  in: const0 [6, 8] no grad, weight [1, 2] grad"));
  CHECK_THAT(out, Catch::Contains("weight: 1 path\n"));
  CHECK_THAT(out, Catch::Contains("bias: 1 path\n"));
  CHECK_THAT(out, Catch::Contains("largest difference: 0\n"));
  // Only the first step is inspected, and the run goes on as without the flag.
  CHECK(out.find("tape: 5 entries") == out.rfind("tape: 5 entries"));
  CHECK_THAT(out, Catch::Contains("step2, loss"));
  // The path's contribution is the gradient SGD applied: w1 = w0 - 0.01 * dK.
  std::smatch m;
  REQUIRE(std::regex_search(out, m, std::regex(R"(weight\.grad += tensor\(\[\[([-0-9.]+), ([-0-9.]+)\]\]\))")));
  const double dk0 = std::stod(m[1]);
  const double dk1 = std::stod(m[2]);
  nlohmann::json start = run_example("--steps 0"), one = run_example("--steps 1");
  CHECK(one["weight"][0].get<double>() == Approx(start["weight"][0].get<double>() - 0.01 * dk0).margin(1e-5));
  CHECK(one["weight"][1].get<double>() == Approx(start["weight"][1].get<double>() - 0.01 * dk1).margin(1e-5));
}

TEST_CASE("edge_detection --trace writes the first backward as the golden trace has it", "[seed][example][inspect]") {
  tg::test::TempDir dir("edge_trace");
  int status = 1;
  run_in(dir, "--steps 3 --trace trace.json", status);
  REQUIRE(status == 0);
  nlohmann::json trace = nlohmann::json::parse(tg::test::read_bytes((dir.path / "trace.json").string()));
  nlohmann::json golden = nlohmann::json::parse(tg::test::read_bytes(tg::test::fixture("traces/seed_first_step.json")));
  REQUIRE(trace["steps"].size() == golden["steps"].size());
  for (std::size_t i = 0; i < golden["steps"].size(); ++i) {
    const nlohmann::json &t = trace["steps"][i], &g = golden["steps"][i];
    CHECK(t["op"] == g["op"]);
    CHECK(t["index"] == g["index"]);
    CHECK(t["grad_output"]["norm"].get<double>() == Approx(g["grad_output"]["norm"].get<double>()).epsilon(1e-5));
  }
  CHECK(trace["steps"].back()["inputs"][0]["source"] == "weight");
}

TEST_CASE("edge_detection --graph writes DOT, and rejects a file type it cannot write", "[seed][example][inspect]") {
  tg::test::TempDir dir("edge_graph");
  int status = 1;
  run_in(dir, "--steps 1 --graph g.dot", status);
  REQUIRE(status == 0);
  const std::string dot = tg::test::read_bytes((dir.path / "g.dot").string());
  CHECK(dot.rfind("digraph tapegrad {", 0) == 0);
  CHECK_THAT(dot, Catch::Contains("label=\"weight\\n[1, 2]\""));
  CHECK_THAT(dot, Catch::Contains("label=\"#0 corr2d\""));

  std::string out = run_in(dir, "--steps 1 --graph g.png", status);
  CHECK(status != 0);
  CHECK_THAT(out, Catch::Contains("write_graph") && Catch::Contains("g.png") && Catch::Contains(".svg"));
  CHECK_FALSE(std::filesystem::exists(dir.path / "g.png"));
}

TEST_CASE("edge_detection --newton lands on [[1, -1]] and bias 0 in one step, the Hessian by double backward",
          "[seed][example][higher_order]") {
  for (int seed : {0, 7}) {
    INFO("seed " << seed);
    nlohmann::json m = run_example(fmt::format("--newton --seed {}", seed));
    CHECK(m["method"] == "newton");
    CHECK(m["steps"].get<int>() == 1);
    // The Hessian by double backward equals the closed form 2 P^T P exactly: its entries are
    // counts of the input's ones, exact in float32.
    const std::vector<std::vector<double>> closed = {{36, 24, 36}, {24, 36, 36}, {36, 36, 84}};
    CHECK(m["hessian"].get<std::vector<std::vector<double>>>() == closed);
    CHECK(m["hessian_closed_form"].get<std::vector<std::vector<double>>>() == closed);
    // One step to float precision: the loss is quadratic, so Newton's step is exact.
    CHECK(m["weight"][0].get<double>() == Approx(1.0).margin(1e-5));
    CHECK(m["weight"][1].get<double>() == Approx(-1.0).margin(1e-5));
    CHECK(m["bias"].get<double>() == Approx(0.0).margin(1e-5));
    CHECK(m["loss_after"].get<double>() < 1e-9 * m["loss"][0].get<double>());
  }
  nlohmann::json sgd = run_example("--steps 1");
  CHECK(sgd["method"] == "sgd");  // SGD stays the default
  // --newton replaces SGD: combining it with SGD's flags is refused.
  std::string command = fmt::format("{} --newton --steps 5 > /dev/null 2>&1", TAPEGRAD_EDGE_DETECTION);
  CHECK(std::system(command.c_str()) != 0);
}

TEST_CASE("edge_detection --newton --inspect prints the tape the recording backward grew, marked",
          "[seed][example][inspect][higher_order]") {
  tg::test::TempDir dir("edge_newton");
  int status = 1;
  std::string out = run_in(dir, "--newton --inspect --graph g.dot --trace t.json", status);
  REQUIRE(status == 0);
  CHECK_THAT(out, Catch::Contains("--- the tape after the recording backward (create_graph) ---"));
  CHECK_THAT(out, Catch::Contains("recorded by a backward with create_graph"));
  CHECK_THAT(out, Catch::Contains("corr2d_backward_kernel  (backward of #0)"));
  CHECK_THAT(out, Catch::Contains("largest difference: 0\n"));
  std::string dot = tg::test::read_bytes((dir.path / "g.dot").string());
  CHECK_THAT(dot, Catch::Contains("backward of #0") && Catch::Contains("style=dotted"));
  nlohmann::json trace = nlohmann::json::parse(tg::test::read_bytes((dir.path / "t.json").string()));
  bool marked = false;  // the second backward runs through entries the first one recorded
  for (const auto& step : trace["steps"]) marked = marked || step.contains("made_by");
  CHECK(marked);
}

TEST_CASE("edge_detection --html writes the tape explorer of the first SGD step", "[seed][example][explorer]") {
  tg::test::TempDir dir("edge_html");
  int status = 1;
  const std::string out = run_in(dir, "--steps 3 --html step.html", status);
  REQUIRE(status == 0);
  CHECK_THAT(out, Catch::Contains("step3, loss") && Catch::Contains("tape explorer of the first SGD step"));
  const std::string page = tg::test::read_bytes(dir.file("step.html"));
  CHECK(page.size() <= 5'000'000);
  CHECK_FALSE(tg::test::fetches_anything(page));
  const nlohmann::json d = tg::test::explorer_data(page);
  std::vector<std::string> ops, names;
  for (const auto& e : d["entries"]) ops.push_back(e["op"]);
  CHECK(ops == std::vector<std::string>{"corr2d", "add", "sub", "square", "sum"});
  CHECK(d["steps"].size() == 5);  // one step recorded, not three
  for (const auto& v : d["values"])
    if (v["kind"] != "output") names.push_back(v["name"]);
  CHECK(names == std::vector<std::string>{"X", "weight", "bias", "Y"});
  // The kernel's gradient is corr2d(X, 2 (Y_hat - Y)), as --inspect checks by hand: here it
  // must be what the page says the corr2d entry sent to the weight, and the weight's .grad.
  const auto& corr2d = d["steps"][4];
  REQUIRE(corr2d["entry"] == 0);
  const auto& send = corr2d["sends"][0];
  CHECK(d["values"][send["value"].get<std::size_t>()]["name"] == "weight");
  CHECK(send["grad"]["text"] == d["values"][send["value"].get<std::size_t>()]["grad"]["text"]);
  if (tg::viz::graphviz_available()) CHECK(page.find("<svg") != std::string::npos);
}

TEST_CASE("edge_detection --newton --html shows the entries the double backward recorded",
          "[seed][example][explorer][higher_order]") {
  tg::test::TempDir dir("edge_newton_html");
  int status = 1;
  run_in(dir, "--newton --html newton.html", status);
  REQUIRE(status == 0);
  const nlohmann::json d = tg::test::explorer_data(tg::test::read_bytes(dir.file("newton.html")));
  bool kernel_backward = false;
  int by_backward = 0, passes = 0;
  for (const auto& e : d["entries"])
    if (e["made_by"] != -1) {
      ++by_backward;
      kernel_backward = kernel_backward || e["op"] == "corr2d_backward_kernel";
    }
  for (const auto& s : d["steps"]) passes = std::max(passes, s["pass"].get<int>() + 1);
  CHECK(by_backward > 0);
  CHECK(kernel_backward);
  CHECK(passes == 4);  // the gradient with create_graph, then one backward per row of the 3x3 Hessian
}
