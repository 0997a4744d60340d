// SPDX-License-Identifier: MIT
#pragma once
// The progress line the examples redraw on stderr while they train (lenet and resnet per
// epoch, char_lm over its steps):
//   epoch 3 [=============                 ] 25600/60000 4321 img/s eta 0:08 loss 0.4312
// It fits the terminal (never wider, so it never wraps), estimates the time left from the
// rate so far, and is drawn only when stderr is a terminal: a log file gets the printed lines
// alone.
#include <cmath>
#include <cstdint>
#include <string>

namespace examples {

struct ProgressLine {
  std::string label;                 // "epoch 3", "step 120"
  std::int64_t done = 0, total = 0;  // the bar's count: images of the epoch, steps
  double rate = 0;                   // throughput, in `unit`
  std::string unit;                  // "img/s", "tok/s"
  double eta = NAN;                  // seconds left (NaN: not known yet)
  double loss = NAN;                 // the running loss (NaN: none yet)
};

// Seconds left for `remaining` more when `done` took `seconds`; NaN before anything is done.
double eta_seconds(std::int64_t done, std::int64_t remaining, double seconds);
// "0:07", "12:34", "1:02:03"; "--:--" when not finite or negative.
std::string format_duration(double seconds);
// The line for a terminal `columns` wide: at most columns - 1 characters (a full line would
// move the cursor to the next one). When it is narrow, the bar goes first, then the rate,
// the count and the loss; the label and the ETA stay.
std::string progress_line(const ProgressLine& p, int columns);

// The terminal's width: stderr's (TIOCGWINSZ), else $COLUMNS, else 80.
int terminal_columns();
// Whether the line is drawn: stderr is a terminal.
bool progress_enabled();
// Redraws the line in place on stderr (nothing when stderr is not a terminal).
void draw_progress(const ProgressLine& p);
// Erases the line, so that what is printed next starts on a clean line.
void clear_progress();

}  // namespace examples
