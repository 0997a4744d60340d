// SPDX-License-Identifier: MIT
// Tensors as PNG images: colormaps, ranges, scaling, grids, the PNG bytes read back by an
// independent decoder, and bad input.
#include <cmath>
#include <limits>

#include "viz/viz_test_util.hpp"

using Catch::Contains;
using tg::Tensor;
using tg::test::decode_png;
using tg::test::TempDir;
using tg::viz::Colormap;
using tg::viz::Image;
using tg::viz::Rgb;

TEST_CASE("colormaps have the documented ends and middles", "[viz][png]") {
  using tg::viz::color_at;
  CHECK(color_at(Colormap::gray, 0) == Rgb{0, 0, 0});
  CHECK(color_at(Colormap::gray, 1) == Rgb{255, 255, 255});
  CHECK(color_at(Colormap::gray, 0.5) == Rgb{128, 128, 128});  // 127.5 rounds up
  CHECK(color_at(Colormap::gray, 0.25) == Rgb{64, 64, 64});    // 63.75
  CHECK(color_at(Colormap::sequential, 0) == Rgb{255, 255, 255});
  CHECK(color_at(Colormap::sequential, 1) == Rgb{33, 102, 172});
  CHECK(color_at(Colormap::diverging, 0) == Rgb{33, 102, 172});
  CHECK(color_at(Colormap::diverging, 0.5) == Rgb{255, 255, 255});
  CHECK(color_at(Colormap::diverging, 1) == Rgb{178, 24, 43});
  // Halfway from white to red: (255 + 178) / 2 = 216.5, (255 + 24) / 2 = 139.5, (255 + 43) / 2 = 149.
  CHECK(color_at(Colormap::diverging, 0.75) == Rgb{217, 140, 149});
  // Outside [0, 1] is clamped.
  CHECK(color_at(Colormap::gray, -3) == Rgb{0, 0, 0});
  CHECK(color_at(Colormap::diverging, 7) == Rgb{178, 24, 43});
}

TEST_CASE("render scales each value to a block of pixels", "[viz][png]") {
  Image img = tg::viz::render(tg::test::edge_image(), {.scale = 40});
  REQUIRE(img.width == 320);
  REQUIRE(img.height == 240);
  REQUIRE(img.rgb.size() == 320u * 240u * 3u);
  for (int y : {0, 39, 40, 239}) {
    CHECK(img.at(0, y) == Rgb{255, 255, 255});
    CHECK(img.at(79, y) == Rgb{255, 255, 255});  // last pixel of column 1
    CHECK(img.at(80, y) == Rgb{0, 0, 0});        // first pixel of column 2
    CHECK(img.at(239, y) == Rgb{0, 0, 0});       // last pixel of column 5
    CHECK(img.at(240, y) == Rgb{255, 255, 255});
    CHECK(img.at(319, y) == Rgb{255, 255, 255});
  }
  CHECK_THROWS_WITH(img.at(320, 0), Contains("Image::at: pixel (320, 0) is outside the 320 x 240 image"));
}

TEST_CASE("render maps the value range onto the colormap", "[viz][png]") {
  SECTION("the default range is the data's own") {
    Image img = tg::viz::render(Tensor{{2, 3, 6}});
    CHECK(img.at(0, 0) == Rgb{0, 0, 0});
    CHECK(img.at(1, 0) == Rgb{64, 64, 64});  // (3 - 2) / 4 = 0.25
    CHECK(img.at(2, 0) == Rgb{255, 255, 255});
  }
  SECTION("an explicit range clamps values outside it") {
    Image img = tg::viz::render(Tensor{{-5, 0.25, 5}}, {.min = 0.0, .max = 1.0});
    CHECK(img.at(0, 0) == Rgb{0, 0, 0});
    CHECK(img.at(1, 0) == Rgb{64, 64, 64});
    CHECK(img.at(2, 0) == Rgb{255, 255, 255});
  }
  SECTION("diverging is symmetric about 0 by default, so 0 is white") {
    Image img = tg::viz::render(Tensor{{-0.5, 0, 2}}, {.colormap = Colormap::diverging});
    CHECK(img.at(0, 0) == tg::viz::color_at(Colormap::diverging, 0.375));  // (-0.5 + 2) / 4
    CHECK(img.at(1, 0) == Rgb{255, 255, 255});
    CHECK(img.at(2, 0) == Rgb{178, 24, 43});
    Image negative = tg::viz::render(Tensor{{-1, -0.5}}, {.colormap = Colormap::diverging});
    CHECK(negative.at(0, 0) == Rgb{33, 102, 172});
  }
  SECTION("a constant tensor is drawn in the middle colour") {
    CHECK(tg::viz::render(tg::ones({2, 2})).at(1, 1) == Rgb{128, 128, 128});
    CHECK(tg::viz::render(tg::zeros({2, 2}), {.colormap = Colormap::diverging}).at(0, 0) == Rgb{255, 255, 255});
  }
  SECTION("float64 and [1, H, W] tensors draw the same picture") {
    Tensor x{{0.1, 0.7}, {0.3, 0.9}};
    Image a = tg::viz::render(x, {.scale = 2});
    CHECK(tg::viz::render(x.to(tg::kFloat64), {.scale = 2}).rgb == a.rgb);
    CHECK(tg::viz::render(x.reshape({1, 2, 2}), {.scale = 2}).rgb == a.rgb);
  }
  SECTION("[3, H, W] is red, green and blue") {
    Tensor rgb = tg::zeros({3, 1, 2});
    rgb.at({0, 0, 0}) = 1;  // pixel 0: red
    rgb.at({1, 0, 1}) = 1;  // pixel 1: green and blue
    rgb.at({2, 0, 1}) = 1;
    Image img = tg::viz::render(rgb);
    CHECK(img.at(0, 0) == Rgb{255, 0, 0});
    CHECK(img.at(1, 0) == Rgb{0, 255, 255});
  }
}

TEST_CASE("image_grid tiles images with gaps, in one value range", "[viz][png]") {
  // Six 5x5 tiles holding 0, 1, ..., 5, as conv1's weight [6, 1, 5, 5] of LeNet.
  Tensor tiles = tg::empty({6, 1, 5, 5});
  for (std::int64_t k = 0; k < 6; ++k)
    for (std::int64_t i = 0; i < 25; ++i) tiles.data<float>()[k * 25 + i] = static_cast<float>(k);
  Image img = tg::viz::image_grid(tiles, {.scale = 2}, {.gap = 3});
  // ceil(sqrt(6)) = 3 columns, 2 rows: 3 x 10 + 4 x 3 wide, 2 x 10 + 3 x 3 tall.
  REQUIRE(img.width == 42);
  REQUIRE(img.height == 29);
  Rgb gap{128, 128, 128};
  CHECK(img.at(0, 0) == gap);
  CHECK(img.at(3, 3) == Rgb{0, 0, 0});  // tile 0 holds the smallest value
  CHECK(img.at(12, 12) == Rgb{0, 0, 0});
  CHECK(img.at(13, 12) == gap);                 // the gap right of tile 0
  CHECK(img.at(29, 16) == Rgb{255, 255, 255});  // tile 5 (row 1, column 2) holds the largest
  CHECK(img.at(28, 16) == gap);
  CHECK(img.at(16, 3) == tg::viz::color_at(Colormap::gray, 0.2));  // tile 1 holds 1 of 0..5
  CHECK(img.at(41, 28) == gap);

  Image row = tg::viz::image_grid(tiles.reshape({6, 5, 5}), {}, {.columns = 6, .gap = 1, .background = {9, 8, 7}});
  CHECK(row.width == 6 * 5 + 7);
  CHECK(row.height == 5 + 2);
  CHECK(row.at(0, 0) == Rgb{9, 8, 7});
  CHECK(row.at(31, 1) == Rgb{255, 255, 255});

  CHECK_THROWS_WITH(tg::viz::image_grid(tg::ones({6, 2, 5, 5})),
                    Contains("image_grid: tiles have shape [6, 2, 5, 5]") && Contains("pick one input channel"));
  CHECK_THROWS_WITH(tg::viz::image_grid(tg::ones({0, 5, 5})), Contains("image_grid: there are no tiles"));
  CHECK_THROWS_WITH(tg::viz::image_grid(tiles, {}, {.gap = -1}), Contains("grid.gap is -1"));
}

TEST_CASE("encode_png gives a PNG that decodes to the same pixels", "[viz][png]") {
  Tensor kernel{{0.9, -0.4}};
  Image img = tg::viz::render(kernel, {.scale = 40, .colormap = Colormap::diverging});
  std::string png = tg::viz::encode_png(img);
  CHECK(png.substr(0, 8) == "\x89PNG\r\n\x1a\n");
  Image back = decode_png(png);
  REQUIRE(back.width == 80);
  REQUIRE(back.height == 40);
  CHECK(back.rgb == img.rgb);
  CHECK(back.at(0, 0) == Rgb{178, 24, 43});  // 0.9 is the largest |value|: full red
  CHECK(back.at(79, 39) == tg::viz::color_at(Colormap::diverging, (-0.4 + 0.9) / 1.8));
  // Deterministic: the same picture is the same bytes.
  CHECK(tg::viz::encode_png(tg::viz::render(kernel, {.scale = 40, .colormap = Colormap::diverging})) == png);
}

TEST_CASE("write_png writes the encoded picture atomically", "[viz][png]") {
  TempDir dir("viz_png");
  std::string path = dir.file("X.png");
  tg::viz::write_png(path, tg::test::edge_image(), {.scale = 40});
  std::string bytes = tg::test::read_bytes(path);
  CHECK(bytes == tg::viz::encode_png(tg::viz::render(tg::test::edge_image(), {.scale = 40})));
  Image back = decode_png(bytes);
  CHECK(back.width == 320);
  CHECK(back.height == 240);
  CHECK(back.at(100, 100) == Rgb{0, 0, 0});
  // Overwriting leaves exactly one file: the temporary one was renamed into place.
  tg::viz::write_png(path, tg::viz::render(Tensor{{1}}));
  CHECK(decode_png(tg::test::read_bytes(path)).width == 1);
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("write_png and render reject bad input with a message naming the fix", "[viz][png]") {
  TempDir dir("viz_png_errors");
  std::string path = dir.file("bad.png");
  using tg::ValueError;
  CHECK_THROWS_AS(tg::viz::write_png(path, tg::zeros({0, 3})), ValueError);
  CHECK_THROWS_WITH(tg::viz::write_png(path, tg::zeros({0, 3})),
                    Contains("write_png: the image is empty (shape [0, 3])") && Contains("[H, W]"));
  CHECK_THROWS_WITH(tg::viz::write_png(path, Tensor()), Contains("write_png: the image is empty (shape undefined)"));
  CHECK_THROWS_WITH(tg::viz::write_png(path, tg::ones({4})),
                    Contains("write_png: the image has shape [4]; it must be [H, W], [1, H, W] or [3, H, W]"));
  CHECK_THROWS_WITH(tg::viz::write_png(path, tg::ones({1, 1, 4, 4})), Contains("use image_grid"));
  CHECK_THROWS_WITH(tg::viz::write_png(path, tg::ones({2, 4, 4})), Contains("with 2 channels"));
  CHECK_THROWS_WITH(tg::viz::render(tg::ones({3, 4, 4}), {.colormap = Colormap::diverging}),
                    Contains("render: a [3, H, W] image is drawn as RGB"));

  Tensor x = tg::zeros({2, 3});
  x.at({1, 2}) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(tg::viz::write_png(path, x),
                    Contains("write_png: the value at [1, 2] of the [2, 3] tensor is nan") && Contains("finite"));
  x.at({1, 2}) = 0;
  x.at({0, 1}) = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(tg::viz::write_png(path, x), Contains("the value at [0, 1] of the [2, 3] tensor is -inf"));

  CHECK_THROWS_WITH(tg::viz::write_png(path, tg::ones({2, 2}), {.scale = 0}),
                    Contains("write_png: options.scale is 0; it must be at least 1"));
  CHECK_THROWS_WITH(
      tg::viz::write_png(path, tg::ones({6, 8}), {.scale = 4000}),
      Contains("6 x 8 values at scale 4000 would be 24000 x 32000 pixels") && Contains("use a smaller scale"));
  CHECK_THROWS_WITH(tg::viz::write_png(path, tg::ones({2, 2}), {.min = 1.0, .max = 1.0}),
                    Contains("write_png: the value range [1, 1] is empty or reversed"));
  CHECK_THROWS_WITH(tg::viz::write_png(path, tg::test::edge_image(), {.min = 2.0}),
                    Contains("[2, 1] is empty or reversed"));
  CHECK_THROWS_WITH(tg::viz::write_png(path, tg::ones({2, 2}), {.max = std::nan("")}),
                    Contains("options.max is nan; give a finite number"));
  CHECK_FALSE(std::filesystem::exists(path));  // nothing was written

  std::string unwritable = dir.file("no/such/dir/x.png");
  CHECK_THROWS_AS(tg::viz::write_png(unwritable, tg::ones({2, 2})), tg::IoError);
  CHECK_THROWS_WITH(tg::viz::write_png(unwritable, tg::ones({2, 2})),
                    Contains("write_png: write " + unwritable) && Contains("check that the directory exists"));

  CHECK_THROWS_WITH(tg::viz::encode_png(Image{}), Contains("encode_png: the image is 0 x 0 pixels"));
  CHECK_THROWS_WITH(tg::viz::encode_png(Image{2, 2, std::vector<std::uint8_t>(5)}),
                    Contains("encode_png: a 2 x 2 RGB image needs 12 bytes, but rgb holds 5"));
}
