// SPDX-License-Identifier: MIT
// Gzip-compressed IDX files, read with zlib's gzread. See idx.hpp for the format.
#include "tapegrad/data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string_view>
#include <system_error>

#include "tapegrad/error.hpp"

namespace tg {

namespace {

constexpr unsigned char kUnsignedByte = 0x08;

// An open gzip file that reports every problem as an IoError naming the file.
class GzipReader {
 public:
  GzipReader(const std::string& path, std::string_view function) : path_(path), function_(function) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
      fail<IoError>("{} {}: this is a directory; pass the path of a .gz file", function_, path_);
    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr)
      fail<IoError>("{} {}: cannot open the file ({}); check the path", function_, path_, std::strerror(errno));
    file_size_ = std::filesystem::file_size(path, ec);
    if (ec) file_size_ = 0;    // unknown (a pipe, say): the checks that use it then pass
    gzbuffer(file_, 1 << 18);  // fewer, larger reads than zlib's 8 KB default
    // Note: gzread passes files without the gzip magic (1f 8b) through unchanged; we refuse
    // them, so that a truncated download or a stray uncompressed file is not misread.
    if (gzdirect(file_) == 1) {
      gzclose(file_);
      if (file_size_ == 0) fail<IoError>("{} {}: the file is empty", function_, path_);
      fail<IoError>("{} {}: not a gzip file (it does not start with the gzip magic bytes 1f 8b)", function_, path_);
    }
  }
  ~GzipReader() { gzclose(file_); }
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;

  // Decompresses up to n bytes into out and returns how many it wrote: fewer than n only
  // at the clean end of the gzip stream.
  std::size_t read(void* out, std::size_t n) {
    auto* dst = static_cast<unsigned char*>(out);
    std::size_t done = 0;
    while (done < n) {
      unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, INT_MAX));
      int got = gzread(file_, dst + done, chunk);
      if (got <= 0) break;
      done += static_cast<std::size_t>(got);
    }
    if (done < n) check_stream();
    return done;
  }

  std::uint64_t file_size() const { return file_size_; }  // compressed
  [[noreturn]] void error(std::string_view what) const { fail<IoError>("{} {}: {}", function_, path_, what); }

 private:
  void check_stream() const {
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    if (code == Z_BUF_ERROR) error("the gzip stream is truncated (the file ends before the compressed data does)");
    // zlib's message starts with the path, which error() already gives.
    std::string_view detail(message);
    if (detail.starts_with(path_ + ": ")) detail.remove_prefix(path_.size() + 2);
    if (code != Z_OK) error(fmt::format("corrupt gzip data ({})", detail));
  }

  gzFile file_ = nullptr;
  std::uint64_t file_size_ = 0;
  std::string path_;
  std::string_view function_;
};

// What an IDX file should hold: its name in messages and its number of dimensions.
struct IdxKind {
  std::string_view name;
  unsigned char rank;
  std::uint32_t magic() const { return (std::uint32_t{kUnsignedByte} << 8) | rank; }
};

// Reads the magic number and the dimensions, checking them against `kind`.
std::array<std::uint32_t, 3> read_header(GzipReader& in, IdxKind kind) {
  std::array<unsigned char, 4> magic{};
  if (in.read(magic.data(), 4) < 4) in.error("the file is too short to hold an IDX header");
  std::uint32_t found = (std::uint32_t{magic[0]} << 24) | (magic[1] << 16) | (magic[2] << 8) | magic[3];
  if (magic[0] != 0 || magic[1] != 0)
    in.error(
        fmt::format("bad magic number 0x{:08x}; IDX {} files start with 0x{:08x}", found, kind.name, kind.magic()));
  if (magic[2] != kUnsignedByte)
    in.error(
        fmt::format("element type code 0x{:02x} (magic 0x{:08x}) is not 0x08 (unsigned byte), the only type "
                    "supported",
                    magic[2], found));
  if (magic[3] != kind.rank)
    in.error(
        fmt::format("{} dimensions (magic 0x{:08x}) but IDX {} files have {} (magic 0x{:08x}); is it the "
                    "other file of the pair?",
                    magic[3], found, kind.name, kind.rank, kind.magic()));
  std::array<std::uint32_t, 3> dims{};
  for (int d = 0; d < kind.rank; ++d) {
    std::array<unsigned char, 4> b{};
    if (in.read(b.data(), 4) < 4) in.error("the file ends inside the IDX header");
    dims[d] = (std::uint32_t{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3];  // big-endian
  }
  return dims;
}

// Reads exactly `bytes` elements and checks that nothing follows them.
std::vector<std::uint8_t> read_data(GzipReader& in, std::uint64_t bytes, std::string_view described) {
  // Note: deflate compresses at most 1032:1, so a header claiming more than that is corrupt
  // whatever follows; checking first avoids allocating gigabytes for a damaged file.
  if (in.file_size() > 0 && bytes / 1032 > in.file_size())
    in.error(
        fmt::format("the header announces {} ({} bytes), more than a {}-byte gzip file can hold; the counts "
                    "or the file are damaged",
                    described, bytes, in.file_size()));
  std::vector<std::uint8_t> data(bytes);
  std::size_t got = in.read(data.data(), bytes);
  if (got < bytes)
    in.error(fmt::format("truncated data: the header announces {} ({} bytes) but only {} bytes follow", described,
                         bytes, got));
  std::array<unsigned char, 4096> rest{};
  std::uint64_t trailing = 0;
  for (std::size_t n; (n = in.read(rest.data(), rest.size())) > 0;) trailing += n;
  if (trailing > 0)
    in.error(fmt::format("trailing data: {} bytes follow the {} the header announces; the counts are wrong", trailing,
                         described));
  return data;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  GzipReader in(path, "read_idx_images");
  auto [count, rows, cols] = read_header(in, {"images", 3});
  // Each factor is below 2^32, so the product of three overflows only if it passes 2^64.
  std::uint64_t pixels = std::uint64_t{count} * rows;
  if (cols != 0 && pixels > std::numeric_limits<std::uint64_t>::max() / cols)
    in.error(fmt::format("the header's dimensions {} x {} x {} overflow 64 bits", count, rows, cols));
  pixels *= cols;
  return {.count = count,
          .rows = rows,
          .cols = cols,
          .pixels = read_data(in, pixels, fmt::format("{} images of {} x {}", count, rows, cols))};
}

std::vector<std::uint8_t> read_idx_labels(const std::string& path) {
  GzipReader in(path, "read_idx_labels");
  std::uint32_t count = read_header(in, {"labels", 1})[0];
  return read_data(in, count, fmt::format("{} labels", count));
}

}  // namespace tg
