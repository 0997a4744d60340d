// SPDX-License-Identifier: MIT
// Gzip IDX files: reading what zlib wrote, and every kind of damaged file.
#include <filesystem>

#include "data/idx_test_util.hpp"
#include "test_util.hpp"

using Catch::Contains;
using tg::test::TempDir;

TEST_CASE("read_idx_images and read_idx_labels read gzip IDX files", "[data][idx]") {
  TempDir dir("idx_read");
  tg::test::write_gzip(dir.file("images.gz"), tg::test::idx_images(3, 2, 5));
  tg::test::write_gzip(dir.file("labels.gz"), tg::test::idx_labels({9, 0, 7}));

  tg::IdxImages images = tg::read_idx_images(dir.file("images.gz"));
  CHECK(images.count == 3);
  CHECK(images.rows == 2);
  CHECK(images.cols == 5);
  REQUIRE(images.pixels.size() == 30);
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t p = 0; p < 10; ++p) CHECK(images.pixels[i * 10 + p] == tg::test::test_pixel(i, p));
  CHECK(tg::read_idx_labels(dir.file("labels.gz")) == std::vector<std::uint8_t>{9, 0, 7});
}

TEST_CASE("read_idx reads empty sets and files larger than zlib's buffer", "[data][idx]") {
  TempDir dir("idx_sizes");
  tg::test::write_gzip(dir.file("none.gz"), tg::test::idx_images(0, 28, 28));
  CHECK(tg::read_idx_images(dir.file("none.gz")).pixels.empty());
  tg::test::write_gzip(dir.file("no_labels.gz"), tg::test::idx_labels({}));
  CHECK(tg::read_idx_labels(dir.file("no_labels.gz")).empty());

  // 1000 images of 28 x 28 = 784000 bytes: several of the reader's 256 KB buffers.
  tg::test::write_gzip(dir.file("big.gz"), tg::test::idx_images(1000, 28, 28));
  tg::IdxImages big = tg::read_idx_images(dir.file("big.gz"));
  REQUIRE(big.pixels.size() == 784000);
  CHECK(big.pixels[999 * 784 + 783] == tg::test::test_pixel(999, 783));
}

TEST_CASE("read_idx reports a missing file or one that is not gzip", "[data][idx]") {
  TempDir dir("idx_files");
  std::string missing = dir.file("missing.gz");
  CHECK_THROWS_AS(tg::read_idx_images(missing), tg::IoError);
  CHECK_THROWS_WITH(tg::read_idx_images(missing), Contains(missing) && Contains("cannot open"));
  CHECK_THROWS_WITH(tg::read_idx_labels(missing), Contains("read_idx_labels") && Contains(missing));

  std::string plain = dir.file("plain");
  tg::test::write_plain(plain, tg::test::idx_images(2, 28, 28));  // a valid IDX file, but not compressed
  CHECK_THROWS_AS(tg::read_idx_images(plain), tg::IoError);
  CHECK_THROWS_WITH(tg::read_idx_images(plain), Contains(plain) && Contains("not a gzip file"));

  CHECK_THROWS_WITH(tg::read_idx_images(dir.path.string()), Contains("this is a directory"));

  std::string empty = dir.file("empty.gz");
  tg::test::write_plain(empty, "");
  CHECK_THROWS_AS(tg::read_idx_labels(empty), tg::IoError);
  CHECK_THROWS_WITH(tg::read_idx_labels(empty), Contains(empty) && Contains("the file is empty"));
}

TEST_CASE("read_idx reports a truncated or corrupt gzip stream", "[data][idx]") {
  TempDir dir("idx_gzip");
  std::string whole = dir.file("whole.gz");
  tg::test::write_gzip(whole, tg::test::idx_images(50, 28, 28));
  std::string bytes = tg::test::read_plain(whole);
  REQUIRE(bytes.size() > 100);

  for (std::size_t keep : {bytes.size() / 2, bytes.size() - 4, std::size_t{12}}) {
    INFO("kept " << keep << " of " << bytes.size() << " bytes");
    std::string cut = dir.file("cut.gz");
    tg::test::write_plain(cut, bytes.substr(0, keep));
    CHECK_THROWS_AS(tg::read_idx_images(cut), tg::IoError);
    CHECK_THROWS_WITH(tg::read_idx_images(cut), Contains(cut) && Contains("gzip stream is truncated"));
  }

  // The gzip trailer ends with CRC-32 then the length; a wrong CRC is corrupt data.
  std::string bad_crc = bytes;
  bad_crc[bad_crc.size() - 8] = static_cast<char>(bad_crc[bad_crc.size() - 8] ^ 0xff);
  std::string corrupt = dir.file("corrupt.gz");
  tg::test::write_plain(corrupt, bad_crc);
  CHECK_THROWS_AS(tg::read_idx_images(corrupt), tg::IoError);
  CHECK_THROWS_WITH(tg::read_idx_images(corrupt),
                    Contains(corrupt) && Contains("corrupt gzip data (incorrect data check)"));
}

TEST_CASE("read_idx reports a wrong magic number, element type or rank", "[data][idx]") {
  TempDir dir("idx_magic");
  std::string path = dir.file("f.gz");

  std::string bad_magic = tg::test::idx_images(1, 2, 2);
  bad_magic[0] = 0x1f;
  tg::test::write_gzip(path, bad_magic);
  CHECK_THROWS_AS(tg::read_idx_images(path), tg::IoError);
  CHECK_THROWS_WITH(tg::read_idx_images(path),
                    Contains(path) && Contains("bad magic number 0x1f000803") && Contains("0x00000803"));

  // 0x0d is IDX's float32 code.
  tg::test::write_gzip(path, tg::test::idx_header({1, 2, 2}, 0x0d) + std::string(16, '\0'));
  CHECK_THROWS_WITH(tg::read_idx_images(path), Contains(path) && Contains("element type code 0x0d"));

  tg::test::write_gzip(path, tg::test::idx_labels({1, 2}));
  CHECK_THROWS_WITH(tg::read_idx_images(path),
                    Contains(path) && Contains("1 dimensions (magic 0x00000801)") && Contains("images"));
  tg::test::write_gzip(path, tg::test::idx_images(2, 1, 1));
  CHECK_THROWS_WITH(tg::read_idx_labels(path), Contains(path) && Contains("3 dimensions (magic 0x00000803)"));

  tg::test::write_gzip(path, std::string("\0\0", 2));
  CHECK_THROWS_WITH(tg::read_idx_labels(path), Contains(path) && Contains("too short to hold an IDX header"));
  tg::test::write_gzip(path, tg::test::idx_header({3, 28, 28}).substr(0, 10));
  CHECK_THROWS_WITH(tg::read_idx_images(path), Contains(path) && Contains("ends inside the IDX header"));
}

TEST_CASE("read_idx reports counts that do not match the data", "[data][idx]") {
  TempDir dir("idx_counts");
  std::string path = dir.file("f.gz");
  std::string two_images = tg::test::idx_images(2, 28, 28);

  // The header says 3 images but 2 follow.
  tg::test::write_gzip(path, tg::test::idx_header({3, 28, 28}) + two_images.substr(16));
  CHECK_THROWS_AS(tg::read_idx_images(path), tg::IoError);
  CHECK_THROWS_WITH(tg::read_idx_images(path), Contains(path) && Contains("truncated data") &&
                                                   Contains("3 images of 28 x 28 (2352 bytes)") &&
                                                   Contains("only 1568 bytes"));

  // The header says 1 image but 2 follow.
  tg::test::write_gzip(path, tg::test::idx_header({1, 28, 28}) + two_images.substr(16));
  CHECK_THROWS_WITH(tg::read_idx_images(path), Contains(path) && Contains("trailing data: 784 bytes"));
  tg::test::write_gzip(path, tg::test::idx_labels({1, 2, 3}) + "x");
  CHECK_THROWS_WITH(tg::read_idx_labels(path),
                    Contains(path) && Contains("trailing data: 1 bytes follow the 3 labels"));

  // 4 billion images cannot come out of a small file: refused before allocating 3 TB.
  tg::test::write_gzip(path, tg::test::idx_header({4000000000u, 28, 28}) + two_images.substr(16));
  CHECK_THROWS_WITH(tg::read_idx_images(path), Contains(path) && Contains("more than a") && Contains("damaged"));
}
