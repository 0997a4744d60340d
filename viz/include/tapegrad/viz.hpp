// SPDX-License-Identifier: MIT
#pragma once
// tapegrad's pictures: tensors as PNG images, line plots and confusion matrices as SVG, and
// graphs (tg::to_dot) as DOT or Graphviz-rendered SVG, the directory they go into, and the tape
// explorer (a page that steps through one training step in a browser).
#include "tapegrad/viz/confusion.hpp"
#include "tapegrad/viz/graph.hpp"
#include "tapegrad/viz/image.hpp"
#include "tapegrad/viz/line_plot.hpp"
#include "tapegrad/viz/output_dir.hpp"
#include "tapegrad/viz/tape_recorder.hpp"
