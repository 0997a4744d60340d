// SPDX-License-Identifier: MIT
#pragma once
// Pictures of tensors: a 2-D tensor becomes an RGB raster through a colormap, each value a
// square block of scale x scale pixels, and the raster a PNG file.
//   using tg::viz::Colormap;
//   tg::viz::write_png("X.png", X, {.scale = 40});  // X [6, 8]: its smallest value black, its largest white
//   tg::viz::write_png("K.png", K, {.scale = 40, .colormap = Colormap::diverging});  // < 0 blue, 0 white, > 0 red
//   tg::viz::write_png("conv1.png", tg::viz::image_grid(conv1.weight, {.scale = 24, .colormap = Colormap::diverging}));
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg::viz {

// How a value, after mapping the range [min, max] to t in [0, 1], becomes a colour.
enum class Colormap {
  gray,        // black (t = 0) to white (t = 1): images
  sequential,  // white (t = 0) to dark blue (t = 1): counts and other non-negative data
  diverging,   // blue (t = 0), white (t = 0.5), red (t = 1): signed data such as kernels
};

using Rgb = std::array<std::uint8_t, 3>;

// The largest width or height drawn, in pixels. Note: far above any picture a person looks
// at, and small enough that width x height x 3 bytes stays well inside the encoder's int.
inline constexpr int kMaxSide = 16384;

// The colour of t in [0, 1] (clamped) under `colormap`: a linear blend of its end (and, for
// diverging, middle) colours, rounded to the nearest byte.
Rgb color_at(Colormap colormap, double t);

struct PngOptions {
  int scale = 1;  // each value becomes a scale x scale block of pixels (nearest neighbour)
  // The values drawn at the colormap's ends; values outside are clamped. Default: the data's
  // own min and max, except for diverging, where it is [-m, m] with m the largest |value|, so
  // that 0 is always white.
  std::optional<double> min{}, max{};
  Colormap colormap = Colormap::gray;
};

// An 8-bit RGB raster: pixel (x, y) is rgb[3 (y width + x) + c].
struct Image {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb{};
  Rgb at(int x, int y) const;  // throws ValueError outside the image
};

// `image` as pixels: [H, W] or [1, H, W] through the colormap; [3, H, W] as red, green and
// blue planes, each mapped from [min, max] to 0..255 (the colormap must then be gray).
// Throws ValueError on an empty tensor, another rank or channel count, a NaN or infinity,
// scale < 1, min >= max, or a result wider or taller than kMaxSide pixels.
Image render(const Tensor& image, const PngOptions& options = {});

struct GridOptions {
  int columns = 0;                   // tiles per row; 0: enough for a square-ish grid, ceil(sqrt(n))
  int gap = 4;                       // pixels between tiles and around the grid
  Rgb background = {128, 128, 128};  // the colour of the gaps; mid grey stands apart from every colormap's ends
};

// n images side by side in rows of `columns`, e.g. a convolution's filters. `tiles` is
// [n, H, W] or [n, 1, H, W] (a conv weight [O, 1, kh, kw]); all tiles share one value range
// (by default the range of all of them), so their colours compare. Throws ValueError on no
// tiles, another shape, a negative columns or gap, and for the reasons render() does.
Image image_grid(const Tensor& tiles, const PngOptions& options = {}, const GridOptions& grid = {});

// The PNG file's bytes for `image` (8-bit RGB). Throws ValueError on an empty image, a side
// longer than kMaxSide, or rgb not holding width x height x 3 bytes.
std::string encode_png(const Image& image);

// Writes encode_png(image) to `path` atomically (temp file + rename). An unwritable path
// is an IoError naming it.
void write_png(const std::string& path, const Image& image);
// write_png(path, render(image, options)).
void write_png(const std::string& path, const Tensor& image, const PngOptions& options = {});

}  // namespace tg::viz
