// SPDX-License-Identifier: MIT
// PNG encoding with stb_image_write, into memory, then one atomic write.
//
// Note: why the implementation is compiled here rather than linked from Debian's libstb,
// which also provides it. tapegrad_viz is a static library, so a link dependency on libstb
// would pass on to every program that links tapegrad::tapegrad, installed copies included,
// and their find_package(tapegrad) would have to find stb too. Compiling stb_image_write into
// this one file makes stb a build-time dependency only (its headers). STB_IMAGE_WRITE_STATIC
// gives the functions internal linkage, so a program that also links libstb (the tests do, to
// decode PNGs with stb_image) sees no second definition of any symbol; STBI_WRITE_NO_STDIO
// leaves out the FILE* writers, since files are written by write_file_atomic.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>

#include "tapegrad/error.hpp"
#include "tapegrad/io.hpp"
#include "tapegrad/viz/image.hpp"

namespace tg::viz {

namespace {

std::string encode(const char* op, const Image& image) {
  if (image.width <= 0 || image.height <= 0)
    fail<ValueError>("{}: the image is {} x {} pixels; it needs at least one pixel (render() a non-empty tensor)", op,
                     image.width, image.height);
  if (image.width > kMaxSide || image.height > kMaxSide)
    fail<ValueError>("{}: the image is {} x {} pixels, more than {} on a side; draw it smaller", op, image.width,
                     image.height, kMaxSide);
  std::size_t expected = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height) * 3;
  if (image.rgb.size() != expected)
    fail<ValueError>(
        "{}: a {} x {} RGB image needs {} bytes, but rgb holds {}; keep width, height and rgb "
        "consistent (3 bytes per pixel, row by row)",
        op, image.width, image.height, expected, image.rgb.size());
  std::string png;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<std::size_t>(size));
  };
  if (!stbi_write_png_to_func(append, &png, image.width, image.height, 3, image.rgb.data(), image.width * 3))
    fail<ValueError>("{}: stb_image_write could not encode the {} x {} image", op, image.width, image.height);
  return png;
}

}  // namespace

std::string encode_png(const Image& image) { return encode("encode_png", image); }

void write_png(const std::string& path, const Image& image) {
  std::string png = encode("write_png", image);
  try {
    write_file_atomic(path, png);
  } catch (const IoError& e) {
    fail<IoError>("write_png: {}", e.what());
  }
}

}  // namespace tg::viz
