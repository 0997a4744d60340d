// SPDX-License-Identifier: MIT
// NumPy's .npy format (numpy.lib.format): the magic "\x93NUMPY", a version byte pair,
// a little-endian header length (2 bytes in version 1, 4 bytes in versions 2 and 3), a
// Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and a newline to a multiple of 64 bytes, then the raw data.
#include <bit>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

#include "tapegrad/error.hpp"
#include "tapegrad/io.hpp"

namespace tg {

namespace {

static_assert(std::endian::native == std::endian::little, "the .npy reader assumes a little-endian host");

constexpr std::string_view kMagic = "\x93NUMPY";

// A tiny reader for the header dict: the three keys NumPy writes, in any order.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  void parse(std::string& descr, bool& fortran_order, Shape& shape) {
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        shape = tuple();
        have_shape = true;
      } else {
        error(fmt::format("unexpected key '{}'", key));
      }
      skip_space();
      if (peek() == ',') ++pos_;
    }
    if (!have_descr || !have_order || !have_shape)
      error("the header lacks one of 'descr', 'fortran_order' and 'shape'");
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail<IoError>("load_npy {}: malformed header ({}) in {:?}; the file is not a valid .npy file", path_, what,
                  std::string(s_));
  }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  char peek() {
    skip_space();
    if (pos_ >= s_.size()) error("unexpected end");
    return s_[pos_];
  }
  void expect(char c) {
    if (peek() != c) error(fmt::format("expected '{}' at offset {}", c, pos_));
    ++pos_;
  }
  std::string string_literal() {
    char quote = peek();
    if (quote != '\'' && quote != '"') error(fmt::format("expected a string at offset {}", pos_));
    std::size_t end = s_.find(quote, ++pos_);
    if (end == std::string_view::npos) error("unterminated string");
    std::string out(s_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    for (auto [word, value] : {std::pair{std::string_view("True"), true}, std::pair{std::string_view("False"), false}})
      if (s_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    error(fmt::format("expected True or False at offset {}", pos_));
  }
  Shape tuple() {
    Shape shape;
    expect('(');
    while (peek() != ')') {
      std::int64_t d = 0;
      bool digits = false;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
        int digit = s_[pos_++] - '0';
        if (d > (std::numeric_limits<std::int64_t>::max() - digit) / 10) error("a dimension overflows int64");
        d = d * 10 + digit;
        digits = true;
      }
      if (!digits) error(fmt::format("expected a dimension at offset {}", pos_));
      if (shape.rank() == Shape::kMaxRank) error(fmt::format("more than {} dimensions", Shape::kMaxRank));
      shape.push_back(d);
      if (peek() == ',') ++pos_;
    }
    ++pos_;
    return shape;
  }

  std::string_view s_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

std::uint32_t little_endian(const unsigned char* p, int bytes) {
  std::uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

Tensor load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail<IoError>("load_npy {}: cannot open the file; check the path", path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto* u = reinterpret_cast<const unsigned char*>(bytes.data());

  if (std::string_view(bytes).substr(0, 6) != kMagic)
    fail<IoError>("load_npy {}: not a .npy file (it does not start with \\x93NUMPY)", path);
  if (bytes.size() < 10) fail<IoError>("load_npy {}: the file is truncated inside its preamble", path);
  int major = u[6];
  if (major < 1 || major > 3)
    fail<IoError>("load_npy {}: unsupported .npy format version {}.{}; versions 1 to 3 are supported", path, major,
                  u[7]);
  std::size_t prefix = major == 1 ? 10 : 12;
  if (bytes.size() < prefix) fail<IoError>("load_npy {}: the file is truncated inside its preamble", path);
  std::size_t header_len = little_endian(u + 8, major == 1 ? 2 : 4);
  if (bytes.size() < prefix + header_len)
    fail<IoError>("load_npy {}: the file is truncated: the header claims {} bytes but only {} follow", path, header_len,
                  bytes.size() - prefix);

  std::string descr;
  bool fortran_order = false;
  Shape shape;
  HeaderParser(std::string_view(bytes).substr(prefix, header_len), path).parse(descr, fortran_order, shape);
  if (fortran_order)
    fail<IoError>("load_npy {}: the array is in Fortran order; save it in C order (numpy.ascontiguousarray)", path);
  Dtype dtype;
  if (descr == "<f4")
    dtype = kFloat32;
  else if (descr == "<f8")
    dtype = kFloat64;
  else if (descr == "<i8")
    dtype = kInt64;
  else if (descr == "|b1")
    dtype = kBool;
  else
    fail<IoError>(
        "load_npy {}: unsupported dtype '{}'; only little-endian float32 ('<f4'), float64 ('<f8'), int64 ('<i8') "
        "and bool ('|b1') are supported (convert with .astype(numpy.float32))",
        path, descr);

  std::uint64_t numel = 0;
  // Shape::numel throws a tg::Error of its own kind on overflow; the caller of a reader is
  // promised an IoError naming the file, whatever the header holds.
  try {
    numel = static_cast<std::uint64_t>(shape.numel());
  } catch (const Error&) {
    fail<IoError>("load_npy {}: the shape {} has more elements than int64 can count", path, shape);
  }
  if (numel > std::numeric_limits<std::uint64_t>::max() / itemsize(dtype))
    fail<IoError>("load_npy {}: the shape {} of {} needs more bytes than 64 bits can count", path, shape,
                  dtype_name(dtype));
  std::uint64_t needed = numel * itemsize(dtype);
  std::size_t data_bytes = bytes.size() - prefix - header_len;
  if (needed != data_bytes)
    fail<IoError>("load_npy {}: shape {} of {} needs {} data bytes but the file has {} ({})", path, shape,
                  dtype_name(dtype), needed, data_bytes, needed > data_bytes ? "truncated" : "trailing bytes");
  const char* data = bytes.data() + prefix + header_len;
  if (dtype == kBool)  // a bool byte is 0 or 1; anything else is no bool at all
    for (std::size_t i = 0; i < data_bytes; ++i)
      if (static_cast<unsigned char>(data[i]) > 1)
        fail<IoError>("load_npy {}: byte {} of the bool data is {}, but a bool is stored as 0 or 1", path, i,
                      static_cast<int>(static_cast<unsigned char>(data[i])));
  Tensor t = empty(shape, {.dtype = dtype});
  std::memcpy(t.raw_data(), data, data_bytes);
  return t;
}

void save_npy(const Tensor& t, const std::string& path) {
  std::string dims;
  for (std::int64_t d : t.shape()) dims += fmt::format("{}, ", d);
  if (t.dim() > 1) dims.resize(dims.size() - 2);  // (2, 3) but (5,) and ()
  if (t.dim() == 1) dims.resize(dims.size() - 1);
  const char* descr = t.dtype() == kFloat32   ? "<f4"
                      : t.dtype() == kFloat64 ? "<f8"
                      : t.dtype() == kInt64   ? "<i8"
                                              : "|b1";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr, dims);
  // Pad with spaces so that magic + version + length + header + '\n' is a multiple of 64.
  std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  if (header.size() > 65535) fail<IoError>("save_npy {}: header too long for format 1.0", path);

  std::string out(kMagic);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(t.raw_data()), static_cast<std::size_t>(t.numel()) * itemsize(t.dtype()));
  write_file_atomic(path, out);
}

}  // namespace tg
