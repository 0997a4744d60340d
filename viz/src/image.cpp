// SPDX-License-Identifier: MIT
// Tensors to RGB rasters: colormaps, value ranges, nearest-neighbour scaling and grids.
#include <algorithm>
#include <cmath>
#include <vector>

#include "tapegrad/error.hpp"
#include "tapegrad/viz/image.hpp"
#include "viz_util.hpp"

namespace tg::viz {

namespace {

Rgb blend(Rgb a, Rgb b, double t) {
  Rgb out;
  for (std::size_t c = 0; c < 3; ++c)
    out[c] = static_cast<std::uint8_t>(std::lround(a[c] + (static_cast<double>(b[c]) - a[c]) * t));
  return out;
}

// Maps values to colours once the range is known. A range of one value (a constant tensor)
// draws everything in the colormap's middle colour instead of dividing by zero.
struct Mapper {
  Colormap colormap;
  double lo, hi;
  Rgb operator()(double v) const { return color_at(colormap, hi > lo ? (v - lo) / (hi - lo) : 0.5); }
};

// The [lo, hi] a picture of `values` maps to the colormap's ends, per PngOptions.
Mapper mapper(const char* op, const Tensor& t, const std::vector<double>& values, const PngOptions& options) {
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]))
      fail<ValueError>(
          "{}: the value at {} of the {} tensor is {}; a picture needs finite values (check the "
          "computation that produced it for a division by zero or a diverging loss)",
          op, detail::index_string(t.shape(), static_cast<std::int64_t>(i)), t.shape(), values[i]);
  for (const auto& [name, bound] : {std::pair{"min", options.min}, std::pair{"max", options.max}})
    if (bound && !std::isfinite(*bound))
      fail<ValueError>("{}: options.{} is {}; give a finite number, or leave it unset to use the data's own", op, name,
                       *bound);
  auto [lo_it, hi_it] = std::minmax_element(values.begin(), values.end());
  double lo = *lo_it, hi = *hi_it;
  if (options.colormap == Colormap::diverging) {
    double m = std::max(std::abs(lo), std::abs(hi));
    lo = -m;
    hi = m;
  }
  if (options.min) lo = *options.min;
  if (options.max) hi = *options.max;
  if ((options.min || options.max) && !(lo < hi))
    fail<ValueError>("{}: the value range [{}, {}] is empty or reversed; options.min must be less than options.max", op,
                     lo, hi);
  return {options.colormap, lo, hi};
}

void check_scale(const char* op, int scale, std::int64_t width, std::int64_t height) {
  if (scale < 1)
    fail<ValueError>("{}: options.scale is {}; it must be at least 1 (1 draws one pixel per value)", op, scale);
  if (width * scale > kMaxSide || height * scale > kMaxSide)
    fail<ValueError>(
        "{}: {} x {} values at scale {} would be {} x {} pixels, more than {} on a side; use a smaller "
        "scale",
        op, height, width, scale, height * scale, width * scale, kMaxSide);
}

// Paints an H x W grid of colours, color_of(i, j), into `out` at (x0, y0), each a scale x scale
// block.
template <class ColorOf>
void paint(Image& out, int x0, int y0, int H, int W, int scale, ColorOf color_of) {
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      Rgb color = color_of(static_cast<std::size_t>(i) * W + j);
      for (int dy = 0; dy < scale; ++dy) {
        std::uint8_t* row = out.rgb.data() + 3 * ((static_cast<std::size_t>(y0 + i * scale + dy)) * out.width + x0);
        for (int dx = 0; dx < scale; ++dx) std::copy(color.begin(), color.end(), row + 3 * (j * scale + dx));
      }
    }
}

Image blank(int width, int height, Rgb color) {
  Image out{width, height, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * height * 3)};
  for (std::size_t p = 0; p < out.rgb.size(); p += 3) std::copy(color.begin(), color.end(), out.rgb.begin() + p);
  return out;
}

Image render_as(const char* op, const Tensor& image, const PngOptions& options) {
  if (!image.defined() || image.numel() == 0)
    fail<ValueError>("{}: the image is empty (shape {}); pass a [H, W], [1, H, W] or [3, H, W] tensor with values", op,
                     image.defined() ? image.shape().str() : "undefined");
  const Shape& s = image.shape();
  if (s.rank() != 2 && s.rank() != 3)
    fail<ValueError>(
        "{}: the image has shape {}; it must be [H, W], [1, H, W] or [3, H, W] (use image_grid for many "
        "images)",
        op, s);
  std::int64_t C = s.rank() == 3 ? s[0] : 1;
  if (C != 1 && C != 3)
    fail<ValueError>(
        "{}: the image has shape {} with {} channels; it must have 1 (a colormap) or 3 (RGB), or use "
        "image_grid to draw each channel as a tile",
        op, s, C);
  if (C == 3 && options.colormap != Colormap::gray)
    fail<ValueError>(
        "{}: a [3, H, W] image is drawn as RGB, so it takes no colormap; use Colormap::gray, or pass "
        "one channel [H, W] to use a colormap",
        op);
  std::int64_t H = s[s.rank() - 2], W = s[s.rank() - 1];
  check_scale(op, options.scale, W, H);
  std::vector<double> values = image.tolist();
  Mapper map = mapper(op, image, values, options);
  int h = static_cast<int>(H), w = static_cast<int>(W), scale = options.scale;
  Image out = blank(w * scale, h * scale, {0, 0, 0});
  if (C == 1) {
    paint(out, 0, 0, h, w, scale, [&](std::size_t p) { return map(values[p]); });
  } else {
    // RGB: each plane through the gray map gives that channel's intensity.
    std::size_t plane = static_cast<std::size_t>(h) * w;
    paint(out, 0, 0, h, w, scale, [&](std::size_t p) {
      return Rgb{map(values[p])[0], map(values[plane + p])[0], map(values[2 * plane + p])[0]};
    });
  }
  return out;
}

}  // namespace

Rgb color_at(Colormap colormap, double t) {
  t = std::clamp(t, 0.0, 1.0);
  // Note: the diverging ends are ColorBrewer's RdBu blue and red, dark enough to tell apart
  // from white at a glance yet not black; sequential ends in the same blue.
  constexpr Rgb black{0, 0, 0}, white{255, 255, 255}, blue{33, 102, 172}, red{178, 24, 43};
  switch (colormap) {
    case Colormap::gray:
      return blend(black, white, t);
    case Colormap::sequential:
      return blend(white, blue, t);
    case Colormap::diverging:
      return t < 0.5 ? blend(blue, white, 2 * t) : blend(white, red, 2 * t - 1);
  }
  fail<ValueError>("color_at: unknown colormap {}; use gray, sequential or diverging", static_cast<int>(colormap));
}

Rgb Image::at(int x, int y) const {
  if (x < 0 || y < 0 || x >= width || y >= height)
    fail<ValueError>("Image::at: pixel ({}, {}) is outside the {} x {} image; x must be in [0, {}) and y in [0, {})", x,
                     y, width, height, width, height);
  const std::uint8_t* p = rgb.data() + 3 * (static_cast<std::size_t>(y) * width + x);
  return {p[0], p[1], p[2]};
}

Image render(const Tensor& image, const PngOptions& options) { return render_as("render", image, options); }

void write_png(const std::string& path, const Tensor& image, const PngOptions& options) {
  write_png(path, render_as("write_png", image, options));
}

Image image_grid(const Tensor& tiles, const PngOptions& options, const GridOptions& grid) {
  const char* op = "image_grid";
  if (!tiles.defined() || tiles.numel() == 0)
    fail<ValueError>("{}: there are no tiles (shape {}); pass [n, H, W] or [n, 1, H, W] with n >= 1", op,
                     tiles.defined() ? tiles.shape().str() : "undefined");
  const Shape& s = tiles.shape();
  if (!(s.rank() == 3 || (s.rank() == 4 && s[1] == 1)))
    fail<ValueError>(
        "{}: tiles have shape {}; they must be [n, H, W] or [n, 1, H, W] (for a conv weight [O, C, kh, "
        "kw] with C > 1, pick one input channel)",
        op, s);
  if (grid.columns < 0 || grid.gap < 0)
    fail<ValueError>(
        "{}: grid.columns is {} and grid.gap is {}; neither may be negative (columns 0 picks a square-ish "
        "grid)",
        op, grid.columns, grid.gap);
  std::int64_t n = s[0], H = s[s.rank() - 2], W = s[s.rank() - 1];
  std::int64_t columns = grid.columns > 0 ? std::min<std::int64_t>(grid.columns, n)
                                          : static_cast<std::int64_t>(std::ceil(std::sqrt(static_cast<double>(n))));
  std::int64_t rows = (n + columns - 1) / columns;
  check_scale(op, options.scale, columns * W, rows * H);
  std::int64_t width = columns * W * options.scale + (columns + 1) * grid.gap;
  std::int64_t height = rows * H * options.scale + (rows + 1) * grid.gap;
  if (width > kMaxSide || height > kMaxSide)
    fail<ValueError>("{}: the grid would be {} x {} pixels, more than {} on a side; use a smaller scale or gap", op,
                     height, width, kMaxSide);
  std::vector<double> values = tiles.tolist();
  Mapper map = mapper(op, tiles, values, options);
  Image out = blank(static_cast<int>(width), static_cast<int>(height), grid.background);
  int scale = options.scale, h = static_cast<int>(H), w = static_cast<int>(W);
  for (std::int64_t k = 0; k < n; ++k) {
    int x0 = static_cast<int>(grid.gap + (k % columns) * (W * scale + grid.gap));
    int y0 = static_cast<int>(grid.gap + (k / columns) * (H * scale + grid.gap));
    std::size_t first = static_cast<std::size_t>(k * H * W);
    paint(out, x0, y0, h, w, scale, [&](std::size_t p) { return map(values[first + p]); });
  }
  return out;
}

}  // namespace tg::viz
