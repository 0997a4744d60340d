// SPDX-License-Identifier: MIT
#pragma once
// The checks behind the fuzz targets (fuzz/fuzz_*.cpp) and the corpus test
// (tests/reliability/test_fuzz_corpus.cpp): one function per reader, which reads a file that
// may hold anything and says whether the reader accepted it.
//
// A reader may reject a file only with an IoError. When it accepts one, what it returns must
// agree with the file's own bytes, and writing the result back with tapegrad's writer and
// reading that again must give the same tensors bit for bit. Anything else throws
// CheckFailure: the fuzz targets turn it into a crash, the corpus test into a failure.
//
// Note: the checks call the readers' file entry points, the ones programs use, so the
// fuzzers exercise exactly the code that opens, sizes and streams a real file.
#include <cxxabi.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "tapegrad/data/idx.hpp"
#include "tapegrad/error.hpp"
#include "tapegrad/io.hpp"
#include "tapegrad/safetensors.hpp"

namespace tg::fuzz {

// A broken invariant: a reader crashed into the wrong exception, or accepted a file and
// returned something that disagrees with it. Not a tg::Error, so no reader can throw it.
class CheckFailure : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

enum class Outcome { kAccepted, kRejected };

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail<CheckFailure>("fuzz check: cannot read {} back", path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string type_name(const std::exception& e) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status),
                                              std::free);
  return status == 0 ? std::string(name.get()) : std::string(typeid(e).name());
}

// Runs `read` (a call of the reader `reader` on `path`): kAccepted if it returns, kRejected
// if it throws IoError, CheckFailure for any other exception. A ShapeError, std::bad_alloc
// or std::length_error escaping a reader means a header value reached code that trusted it.
template <class Read>
Outcome classify(std::string_view reader, const std::string& path, Read&& read) {
  try {
    read();
    return Outcome::kAccepted;
  } catch (const IoError&) {
    return Outcome::kRejected;
  } catch (const std::exception& e) {
    fail<CheckFailure>("{} {}: threw {} instead of an IoError: {}", reader, path, type_name(e), e.what());
  }
}

// Runs `step` (writing or re-reading a round trip), which must succeed whatever the input was.
template <class Step>
auto must_succeed(std::string_view what, Step&& step) {
  try {
    return step();
  } catch (const std::exception& e) {
    fail<CheckFailure>("{} failed: {}", what, e.what());
  }
}

inline std::string_view bytes_of(const Tensor& t) {
  return {static_cast<const char*>(t.raw_data()), static_cast<std::size_t>(t.numel()) * itemsize(t.dtype())};
}

inline bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && bytes_of(a) == bytes_of(b);
}

// float16 and bfloat16 from their bits, computed arithmetically (the reader shifts bits): an
// independent account of what the reader must return for them.
inline float reference_half(std::uint16_t h) {
  const int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  const float sign = (h & 0x8000) ? -1.0f : 1.0f;
  if (exponent == 0x1f) return mantissa ? std::numeric_limits<float>::quiet_NaN() : sign * INFINITY;
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -24);
  return sign * std::ldexp(1.0f + static_cast<float>(mantissa) / 1024.0f, exponent - 15);
}
inline float reference_bfloat(std::uint16_t b) {
  const int exponent = (b >> 7) & 0xff, mantissa = b & 0x7f;
  const float sign = (b & 0x8000) ? -1.0f : 1.0f;
  if (exponent == 0xff) return mantissa ? std::numeric_limits<float>::quiet_NaN() : sign * INFINITY;
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -133);
  return sign * std::ldexp(1.0f + static_cast<float>(mantissa) / 128.0f, exponent - 127);
}

// Whether the float32 tensor t is `bytes` read as 16-bit floats (decode: one of the above),
// NaN matching NaN.
template <class Decode>
bool holds_16_bit(const Tensor& t, std::string_view bytes, Decode decode) {
  const float* p = static_cast<const float*>(t.raw_data());
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const auto v = static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[2 * i]) |
                                              static_cast<unsigned char>(bytes[2 * i + 1]) << 8);
    const float want = decode(v);
    if (!(want == p[i] || (std::isnan(want) && std::isnan(p[i])))) return false;
  }
  return true;
}

inline std::uint64_t little_endian(std::string_view bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = bytes.size(); i-- > 0;) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}

// load_npy: the tensor's bytes are the file's last bytes, right after the header whose
// length the preamble gives, and save_npy + load_npy reproduce the tensor.
inline Outcome check_npy(const std::string& path, const std::string& scratch) {
  Tensor t;
  if (classify("load_npy", path, [&] { t = load_npy(path); }) == Outcome::kRejected) return Outcome::kRejected;
  if (!t.defined()) fail<CheckFailure>("load_npy {}: accepted the file but returned an undefined tensor", path);

  const std::string file = read_file(path);
  const std::string_view data = bytes_of(t);
  const std::size_t prefix = file.size() >= 7 && file[6] == 1 ? 10 : 12;
  if (file.size() < prefix) fail<CheckFailure>("load_npy {}: accepted a {}-byte file", path, file.size());
  const std::uint64_t header_len = little_endian(std::string_view(file).substr(8, prefix - 8));
  if (prefix + header_len + data.size() != file.size())
    fail<CheckFailure>("load_npy {}: preamble {} + header {} + data {} bytes (shape {}, {}) != file size {}", path,
                       prefix, header_len, data.size(), t.shape(), dtype_name(t.dtype()), file.size());
  if (std::string_view(file).substr(file.size() - data.size()) != data)
    fail<CheckFailure>("load_npy {}: the tensor's {} bytes differ from the file's data", path, data.size());

  must_succeed("save_npy of a loaded tensor", [&] { save_npy(t, scratch); });
  const Tensor back = must_succeed("load_npy of a file save_npy wrote", [&] { return load_npy(scratch); });
  if (!same_bits(t, back))
    fail<CheckFailure>("load_npy {}: the tensor (shape {}, {}) did not survive save_npy + load_npy (shape {}, {})",
                       path, t.shape(), dtype_name(t.dtype()), back.shape(), dtype_name(back.dtype()));
  return Outcome::kAccepted;
}

// load_safetensors and load_safetensors_metadata accept the same files; the tensors, in the
// order returned, are the data buffer byte for byte; names are unique; and save_safetensors
// + load_safetensors reproduce names, order, tensors and metadata.
inline Outcome check_safetensors(const std::string& path, const std::string& scratch) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata;
  const Outcome outcome = classify("load_safetensors", path, [&] { tensors = load_safetensors(path); });
  const Outcome metadata_outcome =
      classify("load_safetensors_metadata", path, [&] { metadata = load_safetensors_metadata(path); });
  if (outcome != metadata_outcome)
    fail<CheckFailure>("load_safetensors {}: {} by load_safetensors but {} by load_safetensors_metadata", path,
                       outcome == Outcome::kAccepted ? "accepted" : "rejected",
                       metadata_outcome == Outcome::kAccepted ? "accepted" : "rejected");
  if (outcome == Outcome::kRejected) return outcome;

  const std::string file = read_file(path);
  const std::uint64_t header_len = file.size() >= 8 ? little_endian(std::string_view(file).substr(0, 8)) : 0;
  if (file.size() < 8 || header_len > file.size() - 8)
    fail<CheckFailure>("load_safetensors {}: accepted a {}-byte file whose header length is {}", path, file.size(),
                       header_len);
  // The tensors, in order, tile the data buffer: each is its bytes as they are, or (a float32
  // tensor from F16 or BF16) its 2-byte values widened.
  std::set<std::string> names;
  const std::string_view buffer = std::string_view(file).substr(8 + header_len);
  std::size_t at = 0;
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) fail<CheckFailure>("load_safetensors {}: tensor '{}' is undefined", path, name);
    if (name == "__metadata__" || !names.insert(name).second)
      fail<CheckFailure>("load_safetensors {}: returned the name '{}' twice or as a tensor", path, name);
    const std::string_view own = bytes_of(t);
    const std::size_t half = static_cast<std::size_t>(t.numel()) * 2;
    if (buffer.substr(at, own.size()) == own && at + own.size() <= buffer.size()) {
      at += own.size();
    } else if (t.dtype() == kFloat32 && at + half <= buffer.size() &&
               (holds_16_bit(t, buffer.substr(at, half), reference_half) ||
                holds_16_bit(t, buffer.substr(at, half), reference_bfloat))) {
      at += half;
    } else {
      fail<CheckFailure>("load_safetensors {}: tensor '{}' ({}, shape {}) is not the data buffer's bytes at offset {}",
                         path, name, dtype_name(t.dtype()), t.shape(), at);
    }
  }
  if (at != buffer.size())
    fail<CheckFailure>("load_safetensors {}: the {} tensors account for {} of the data buffer's {} bytes", path,
                       tensors.size(), at, buffer.size());

  must_succeed("save_safetensors of loaded tensors", [&] { save_safetensors(tensors, scratch, metadata); });
  const auto back =
      must_succeed("load_safetensors of a file save_safetensors wrote", [&] { return load_safetensors(scratch); });
  const auto back_metadata = must_succeed("load_safetensors_metadata of a file save_safetensors wrote",
                                          [&] { return load_safetensors_metadata(scratch); });
  bool same = back.size() == tensors.size() && back_metadata == metadata;
  for (std::size_t i = 0; same && i < back.size(); ++i)
    same = back[i].first == tensors[i].first && same_bits(back[i].second, tensors[i].second);
  if (!same)
    fail<CheckFailure>("load_safetensors {}: {} tensors and {} metadata entries did not survive save + load", path,
                       tensors.size(), metadata.size());
  return Outcome::kAccepted;
}

// Writes an IDX file of unsigned bytes (magic 0x0000080<rank>), gzip-compressed.
inline void write_idx_gzip(const std::string& path, const std::vector<std::uint32_t>& dims,
                           const std::vector<std::uint8_t>& data) {
  std::string bytes{'\0', '\0', '\x08', static_cast<char>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) bytes += static_cast<char>((d >> shift) & 0xff);
  bytes.append(data.begin(), data.end());
  gzFile file = gzopen(path.c_str(), "wb");
  if (file == nullptr) fail<CheckFailure>("fuzz check: cannot create {}", path);
  for (std::size_t done = 0; done < bytes.size();) {
    const auto chunk = static_cast<unsigned>(std::min<std::size_t>(bytes.size() - done, 1u << 30));
    if (gzwrite(file, bytes.data() + done, chunk) != static_cast<int>(chunk)) {
      gzclose(file);
      fail<CheckFailure>("fuzz check: writing {} failed", path);
    }
    done += chunk;
  }
  if (gzclose(file) != Z_OK) fail<CheckFailure>("fuzz check: closing {} failed", path);
}

// read_idx_images and read_idx_labels: at most one accepts a file (their magic numbers
// differ); the result's size matches its counts; and writing it back as a gzip IDX file and
// reading that again gives the same counts and bytes.
inline Outcome check_idx(const std::string& path, const std::string& scratch) {
  IdxImages images;
  std::vector<std::uint8_t> labels;
  const Outcome as_images = classify("read_idx_images", path, [&] { images = read_idx_images(path); });
  const Outcome as_labels = classify("read_idx_labels", path, [&] { labels = read_idx_labels(path); });
  if (as_images == Outcome::kAccepted && as_labels == Outcome::kAccepted)
    fail<CheckFailure>("read_idx {}: accepted both as images and as labels", path);

  if (as_images == Outcome::kAccepted) {
    const auto count = static_cast<std::uint64_t>(images.count), rows = static_cast<std::uint64_t>(images.rows),
               cols = static_cast<std::uint64_t>(images.cols);
    std::uint64_t pixels = 0;
    const bool overflow = __builtin_mul_overflow(count, rows, &pixels) || __builtin_mul_overflow(pixels, cols, &pixels);
    if (count > UINT32_MAX || rows > UINT32_MAX || cols > UINT32_MAX || overflow || pixels != images.pixels.size())
      fail<CheckFailure>("read_idx_images {}: {} images of {} x {} but {} pixels", path, images.count, images.rows,
                         images.cols, images.pixels.size());
    write_idx_gzip(
        scratch,
        {static_cast<std::uint32_t>(count), static_cast<std::uint32_t>(rows), static_cast<std::uint32_t>(cols)},
        images.pixels);
    const IdxImages back =
        must_succeed("read_idx_images of a file it accepted, rewritten", [&] { return read_idx_images(scratch); });
    if (back.count != images.count || back.rows != images.rows || back.cols != images.cols ||
        back.pixels != images.pixels)
      fail<CheckFailure>("read_idx_images {}: {} images of {} x {} did not survive a rewrite", path, images.count,
                         images.rows, images.cols);
  }
  if (as_labels == Outcome::kAccepted) {
    if (labels.size() > UINT32_MAX)
      fail<CheckFailure>("read_idx_labels {}: {} labels, more than a 32-bit count", path, labels.size());
    write_idx_gzip(scratch, {static_cast<std::uint32_t>(labels.size())}, labels);
    const auto back =
        must_succeed("read_idx_labels of a file it accepted, rewritten", [&] { return read_idx_labels(scratch); });
    if (back != labels)
      fail<CheckFailure>("read_idx_labels {}: {} labels did not survive a rewrite", path, labels.size());
  }
  return as_images == Outcome::kAccepted || as_labels == Outcome::kAccepted ? Outcome::kAccepted : Outcome::kRejected;
}

}  // namespace tg::fuzz
