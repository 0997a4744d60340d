// SPDX-License-Identifier: MIT
// The tape explorer's recorder and page (tapegrad/viz/tape_recorder.hpp): what it keeps of a
// step, the gradients it shows against backward's own, the page's size and self-containment,
// and its errors. tests/viz/explorer_browser.py drives the page in Chromium.
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <regex>

#include <nlohmann/json.hpp>

#include "viz/explorer_page.hpp"
#include "viz_test_util.hpp"

namespace {

using nlohmann::json;

json page_data(const std::string& html) { return tg::test::explorer_data(html); }

std::vector<double> numbers(const std::string& printed) {  // "tensor([[ 0.5000, -1.0000]])"
  std::vector<double> out;
  std::regex number("[-+]?[0-9]+\\.?[0-9]*(e[-+]?[0-9]+)?");
  std::string body = printed.substr(printed.find('('));
  for (std::sregex_iterator it(body.begin(), body.end(), number), end; it != end; ++it)
    out.push_back(std::stod(it->str()));
  return out;
}

}  // namespace

TEST_CASE("TapeRecorder keeps every entry, value and gradient of a step with a fan-out", "[viz][explorer]") {
  // x feeds two entries: its gradient is the sum of two contributions, 2x (from x * x) and 1.
  tg::Tensor x = tg::Tensor{1.0, 2.0, 3.0}.requires_grad_();
  tg::Tensor c = tg::Tensor{10.0, 20.0, 30.0};
  tg::TapeRecorder rec({{"x", x}});
  rec.name(c, "c");
  tg::Tensor xx = x * x;  // in this order: the operands of + may be evaluated in either
  tg::Tensor xc = x * c;
  tg::Tensor y = xx + xc;
  tg::Tensor loss = y.sum();
  loss.backward();
  rec.stop();
  tg::Tensor after = (x * 2).sum();  // not recorded
  (void)after;

  REQUIRE(rec.num_entries() == 4);  // mul, mul, add, sum
  REQUIRE(rec.num_backward_steps() == 4);
  const json d = json::parse(rec.to_json());
  std::vector<std::string> ops;
  for (const json& e : d["entries"]) ops.push_back(e["op"]);
  CHECK(ops == std::vector<std::string>{"mul", "mul", "add", "sum"});
  for (const json& e : d["entries"]) CHECK(std::string(e["vjp"]).size() > 3);  // from the registry
  // Entry 0 reads x twice: one value, the leaf named x.
  const json& e0 = d["entries"][0];
  CHECK(e0["inputs"][0] == e0["inputs"][1]);
  const json& xv = d["values"][e0["inputs"][0].get<std::size_t>()];
  CHECK(xv["name"] == "x");
  CHECK(xv["kind"] == "leaf");
  CHECK(numbers(xv["tensor"]["text"]) == std::vector<double>{1, 2, 3});
  // c is a constant, named, and needs no gradient.
  const json& e1 = d["entries"][1];
  CHECK(d["values"][e1["inputs"][1].get<std::size_t>()]["name"] == "c");
  CHECK(d["values"][e1["inputs"][1].get<std::size_t>()]["kind"] == "constant");
  CHECK(e1["needs_grad"] == json::array({true, false}));
  // Backward runs from the last entry to the first.
  std::vector<int> order;
  for (const json& s : d["steps"]) order.push_back(s["entry"]);
  CHECK(order == std::vector<int>{3, 2, 1, 0});
  // Every gradient sent to x, and their sum: x.grad, which the page shows too.
  std::vector<double> sum(3, 0.0);
  int contributions = 0;
  const std::int64_t x_id = e0["inputs"][0];
  for (const json& s : d["steps"])
    for (const json& send : s["sends"])
      if (send["value"] == x_id) {
        ++contributions;
        std::vector<double> g = numbers(send["grad"]["text"]);
        for (std::size_t i = 0; i < 3; ++i) sum[i] += g[i];
      }
  CHECK(contributions == 3);  // x * x sends two (one per operand), x * c one
  CHECK(sum == x.grad().tolist());
  CHECK(numbers(xv["grad"]["text"]) == x.grad().tolist());
  // The gradient arriving at the sum's input is ones.
  CHECK(numbers(d["steps"][0]["grad_output"][0]["text"]) == std::vector<double>{1});
  // Saved tensors: mul saves both operands.
  CHECK(e1["saved_bytes"].get<std::int64_t>() > 0);
}

TEST_CASE("TapeRecorder marks the entries a backward with create_graph records", "[viz][explorer]") {
  tg::Tensor x = tg::Tensor{0.5, -1.0}.requires_grad_();
  tg::TapeRecorder rec({{"x", x}});
  tg::Tensor y = (x * x * x).sum();
  std::vector<tg::Tensor> g = tg::grad({y}, {x}, {.create_graph = true});  // 3 x^2, a graph of its own
  g[0].sum().backward();                                                   // 6 x
  rec.stop();
  const json d = json::parse(rec.to_json());
  int forward = 0, by_backward = 0, passes = 0;
  INFO(d["entries"].dump());
  for (const json& e : d["entries"]) {
    if (e["made_by"] == -1) {
      ++forward;
    } else {
      ++by_backward;
      CHECK((e["made_by"].get<int>() >= 0 || e["made_by"] == -3));  // an entry's backward, or backward's sum
      CHECK(e["made_in"].get<int>() >= 0);                          // the backward step that recorded it
    }
  }
  CHECK(forward == 4);  // mul, mul, sum, and the sum of the gradient
  CHECK(by_backward > 0);
  for (const json& s : d["steps"]) passes = std::max(passes, s["pass"].get<int>() + 1);
  CHECK(passes == 2);
  CHECK(x.grad().tolist() == std::vector<double>{3.0, -6.0});
}

TEST_CASE("TapeRecorder keeps large tensors as heat maps with exact statistics", "[viz][explorer]") {
  tg::Generator gen(7);
  tg::Tensor w = tg::randn({3, 40, 200}, gen).requires_grad_();  // 24,000 elements
  tg::TapeRecorder rec({{"w", w}}, {.heat_size = 16, .max_slices = 2});
  tg::Tensor loss = (w * w).sum();
  loss.backward();
  rec.stop();
  const json d = json::parse(rec.to_json());
  const json& wv = d["values"][d["entries"][0]["inputs"][0].get<std::size_t>()];
  const json& t = wv["tensor"];
  CHECK_FALSE(t.contains("text"));
  CHECK(t["shape"] == json::array({3, 40, 200}));
  std::vector<double> all = w.tolist();
  CHECK(t["min"].get<double>() == Approx(*std::min_element(all.begin(), all.end())));
  CHECK(t["max"].get<double>() == Approx(*std::max_element(all.begin(), all.end())));
  CHECK(t["mean"].get<double>() == Approx(w.mean().item<double>()).margin(1e-6));
  const json& heat = t["heat"];
  CHECK(heat["kept"] == json::array({2}));       // max_slices
  CHECK(heat["block"] == json::array({3, 13}));  // 40 rows in blocks of 3, 200 columns in blocks of 13
  CHECK(heat["rows"] == 14);
  CHECK(heat["cols"] == 16);
  CHECK(std::string(heat["data"]).size() == 4 * ((2 * 14 * 16 + 2) / 3));  // base64 of one byte a cell
  // A small budget keeps fewer cells, never the statistics.
  const json small = json::parse(rec.to_json(1000));
  CHECK(small["downsampled"] == true);
  const json& st = small["values"][d["entries"][0]["inputs"][0].get<std::size_t>()]["tensor"];
  CHECK(st["min"] == t["min"]);
  CHECK(std::string(st["heat"]["data"]).size() < std::string(heat["data"]).size());
}

TEST_CASE("TapeRecorder writes one self-contained page within its size limit", "[viz][explorer]") {
  tg::test::TempDir dir("explorer");
  tg::Generator gen(1);
  tg::Tensor w = tg::randn({64, 64}, gen).requires_grad_();
  tg::TapeRecorder rec({{"w", w}});
  tg::Tensor h = tg::randn({256, 64}, gen);
  for (int i = 0; i < 30; ++i) h = tg::tanh(tg::matmul(h, w));
  h.sum().backward();
  rec.stop();
  const std::string path = dir.file("page.html");
  rec.write_html(path, "thirty layers", 400'000);
  const std::string page = tg::test::read_bytes(path);
  CHECK(page.size() <= 400'000);
  CHECK(page.find("thirty layers") != std::string::npos);
  // Nothing is fetched: no external script, style, image or link.
  CHECK_FALSE(tg::test::fetches_anything(page));
  const json d = page_data(page);
  CHECK(d["entries"].size() == 61);  // 30 matmul, 30 tanh, sum
  CHECK(d["downsampled"] == true);
  if (tg::viz::graphviz_available()) {
    CHECK(page.find("<svg") != std::string::npos);
    CHECK(page.find("id=\"e60\"") != std::string::npos);  // the page highlights nodes by these ids
  }
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("TapeRecorder without Graphviz, or with a graph too slow to draw, writes the table alone",
          "[viz][explorer]") {
  tg::test::TempDir dir("explorer_nodot");
  tg::Tensor x = tg::Tensor{1.0, 2.0}.requires_grad_();
  tg::TapeRecorder rec({{"x", x}});
  (x * x).sum().backward();
  rec.stop();
  {
    tg::test::ScopedEnv no_dot("PATH", dir.path.string());
    rec.write_html(dir.file("a.html"));
  }
  std::string page = tg::test::read_bytes(dir.file("a.html"));
  CHECK(page.find("<svg") == std::string::npos);
  CHECK(page.find("apt-get install graphviz") != std::string::npos);
  CHECK(page_data(page)["entries"].size() == 2);

  // A `dot` that never finishes: stopped at the timeout, and said so.
  const std::string slow = dir.file("dot");
  tg::test::write_bytes(slow, "#!/bin/sh\nsleep 60\n");
  ::chmod(slow.c_str(), 0755);
  {
    tg::test::ScopedEnv fake("PATH", dir.path.string() + ":/usr/bin:/bin");
    CHECK_THROWS_WITH(tg::viz::render_svg("digraph { a -> b }", 0.3), Catch::Contains("longer than 0.3 s"));
    tg::TapeRecorder slow_rec({{"x", x}}, {.graph_timeout = 0.3});
    (x * x).sum().backward();
    slow_rec.stop();
    slow_rec.write_html(dir.file("b.html"));
  }
  page = tg::test::read_bytes(dir.file("b.html"));
  CHECK(page.find("<svg") == std::string::npos);
  CHECK(page.find("longer than 0.3 s") != std::string::npos);
}

TEST_CASE("TapeRecorder refuses what it cannot show, and leaves files as they were", "[viz][explorer]") {
  tg::test::TempDir dir("explorer_errors");
  {
    tg::TapeRecorder rec;
    tg::Tensor y = tg::Tensor{1.0, 2.0} * 2;  // nothing requires grad: nothing recorded
    (void)y;
    CHECK_THROWS_AS(rec.write_html(dir.file("none.html")), tg::ValueError);
    CHECK_THROWS_WITH(rec.write_html(dir.file("none.html")), Catch::Contains("before the forward pass"));
  }
  CHECK_FALSE(std::filesystem::exists(dir.file("none.html")));
  CHECK_THROWS_WITH(tg::TapeRecorder({}, {.heat_size = 0}), Catch::Contains("heat_size"));
  CHECK_THROWS_WITH(tg::TapeRecorder().name(tg::Tensor(), "t"), Catch::Contains("undefined"));

  tg::Tensor x = tg::Tensor{1.0, 2.0}.requires_grad_();
  tg::TapeRecorder rec({{"x", x}});
  (x * x).sum().backward();
  rec.stop();
  CHECK_THROWS_AS(rec.write_html(dir.file("missing/dir/page.html")), tg::IoError);
  tg::test::write_bytes(dir.file("old.html"), "old");
  CHECK_THROWS_WITH(rec.write_html(dir.file("old.html"), "t", 100), Catch::Contains("max_bytes"));
  CHECK(tg::test::read_bytes(dir.file("old.html")) == "old");
}
