// SPDX-License-Identifier: MIT
// The examples' progress line (examples/common/progress.hpp): it fits every width from 20 to
// 200 columns, keeps the label and the ETA when narrow, fills the bar as the count goes, and
// formats the time left.
#include <algorithm>
#include <cmath>

#include "common/progress.hpp"
#include "test_util.hpp"

using examples::format_duration;
using examples::progress_line;
using examples::ProgressLine;

namespace {

ProgressLine epoch_line(std::int64_t done, std::int64_t total) {
  return {.label = "epoch 10",
          .done = done,
          .total = total,
          .rate = 12345.6,
          .unit = "img/s",
          .eta = examples::eta_seconds(done, total - done, 4.5),
          .loss = 0.43217};
}

}  // namespace

TEST_CASE("format_duration writes m:ss, h:mm:ss, and --:-- when unknown", "[examples][progress]") {
  CHECK(format_duration(0) == "0:00");
  CHECK(format_duration(7.4) == "0:07");
  CHECK(format_duration(59.6) == "1:00");
  CHECK(format_duration(754) == "12:34");
  CHECK(format_duration(3599) == "59:59");
  CHECK(format_duration(3723) == "1:02:03");
  CHECK(format_duration(100 * 3600.0) == "100:00:00");
  CHECK(format_duration(NAN) == "--:--");
  CHECK(format_duration(INFINITY) == "--:--");
  CHECK(format_duration(-1) == "--:--");
}

TEST_CASE("eta_seconds is the time left at the rate so far", "[examples][progress]") {
  CHECK(examples::eta_seconds(10, 30, 5.0) == Approx(15.0));
  CHECK(examples::eta_seconds(600, 59400, 3.0) == Approx(297.0));
  CHECK(examples::eta_seconds(10, 0, 5.0) == 0.0);
  CHECK(std::isnan(examples::eta_seconds(0, 30, 5.0)));  // nothing done yet: unknown
  CHECK(std::isnan(examples::eta_seconds(10, 30, 0.0)));
}

TEST_CASE("the progress line fits every width from 20 to 200 columns", "[examples][progress]") {
  const std::vector<ProgressLine> lines{
      epoch_line(0, 60000),
      epoch_line(25600, 60000),
      epoch_line(60000, 60000),
      epoch_line(123456789, 987654321),
      {.label = "step 120", .done = 120, .total = 1000, .rate = 4321, .unit = "tok/s"}};
  for (const ProgressLine& p : lines)
    for (int columns = 20; columns <= 200; ++columns) {
      INFO(p.label << " " << p.done << "/" << p.total << " in " << columns << " columns");
      const std::string line = progress_line(p, columns);
      INFO(line);
      CHECK(line.size() <= static_cast<std::size_t>(columns - 1));
      CHECK(line.rfind(p.label, 0) == 0);
      CHECK_THAT(line, Catch::Contains(" eta "));
      CHECK(line.find('\n') == std::string::npos);
    }
}

TEST_CASE("the progress line shows everything when wide and drops the bar, rate and count when narrow",
          "[examples][progress]") {
  const ProgressLine p = epoch_line(25600, 60000);                             // 4.5 s for 25600: 6.05 s left
  const std::string fields = " 25600/60000 12346 img/s eta 0:06 loss 0.4322";  // 45 characters
  auto bar = [](std::size_t filled, std::size_t width) {
    std::string out(width + 2, ' ');
    out.front() = '[';
    out.back() = ']';
    std::fill_n(out.begin() + 1, filled, '=');
    return out;
  };
  // "epoch 10 [" + "]" + fields take 56: the bar gets the rest of columns - 1, up to 30.
  CHECK(progress_line(p, 200) == "epoch 10 " + bar(12, 30) + fields);  // 30 * 25600 / 60000 = 12.8
  CHECK(progress_line(p, 87) == "epoch 10 " + bar(12, 30) + fields);
  CHECK(progress_line(p, 80) == "epoch 10 " + bar(9, 23) + fields);  // 23 * 0.4267 = 9.8
  CHECK(progress_line(p, 67) == "epoch 10 " + bar(4, 10) + fields);
  CHECK(progress_line(p, 66) == "epoch 10" + fields);  // no room for a bar of 10
  CHECK(progress_line(p, 54) == "epoch 10" + fields);
  CHECK(progress_line(p, 53) == "epoch 10 25600/60000 eta 0:06 loss 0.4322");
  CHECK(progress_line(p, 42) == "epoch 10 25600/60000 eta 0:06 loss 0.4322");
  CHECK(progress_line(p, 41) == "epoch 10 eta 0:06 loss 0.4322");
  CHECK(progress_line(p, 30) == "epoch 10 eta 0:06 loss 0.4322");
  CHECK(progress_line(p, 29) == "epoch 10 eta 0:06");
  CHECK(progress_line(p, 18) == "epoch 10 eta 0:06");
  CHECK(progress_line(p, 10) == "epoch 10");
  // Before the first batch the time left is unknown, and there is no loss yet.
  CHECK(progress_line({.label = "epoch 1", .done = 0, .total = 100, .rate = 0, .unit = "img/s"}, 80) ==
        "epoch 1 " + bar(0, 30) + " 0/100 0 img/s eta --:--");
}

TEST_CASE("the progress line is full, with no time left, when done == total", "[examples][progress]") {
  ProgressLine p = epoch_line(60000, 60000);
  p.eta = 99;  // what a caller's estimate says matters not: nothing is left
  const std::string line = progress_line(p, 100);
  CHECK(line == fmt::format("epoch 10 [{}] 60000/60000 12346 img/s eta 0:00 loss 0.4322", std::string(30, '=')));
  for (int columns = 20; columns <= 200; ++columns) CHECK_THAT(progress_line(p, columns), Catch::Contains("eta 0:00"));
}

TEST_CASE("terminal_columns reads $COLUMNS when stderr is not a terminal", "[examples][progress]") {
  if (examples::progress_enabled()) {
    TG_SKIP("stderr is a terminal here: its own width wins");
    return;
  }
  {
    tg::test::ScopedEnv env("COLUMNS", "123");
    CHECK(examples::terminal_columns() == 123);
  }
  {
    tg::test::ScopedEnv env("COLUMNS", "wide");
    CHECK(examples::terminal_columns() == 80);
  }
}
