// SPDX-License-Identifier: MIT
#pragma once
// The text char_lm trains on, its vocabulary and the batches of the spec (docs/char_lm.md,
// mirrored by bench/char_lm.py):
//   text   the regular files (not symlinks, not *.dat) of /usr/share/games/fortunes, sorted by
//          name and concatenated, or --text FILE; UTF-8, or Latin-1 when the bytes are not UTF-8
//   vocab  the sorted distinct code points; a character's id is its index there
//   split  the first n * 9 / 10 ids train, the rest validate
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tapegrad/tapegrad.hpp"

namespace char_lm {

inline constexpr std::int64_t kContext = 64;  // T: the characters a model sees at once
inline constexpr const char* kFortunes = "/usr/share/games/fortunes";

// Bytes as code points: UTF-8 when they are valid UTF-8 (strictly, as Python's decoder: no
// overlong forms, surrogates or values above U+10FFFF), otherwise Latin-1 (one per byte).
std::vector<char32_t> decode_text(const std::string& bytes);
// Code points as UTF-8.
std::string encode_utf8(std::span<const char32_t> text);

// The bytes of the default text: the fortunes files, in byte order of their names. An IoError
// naming the folder and the fix (install Debian's fortunes package, or pass --text) when there
// are none.
std::string read_fortunes(const std::string& dir = kFortunes);
// The bytes of `path`; an IoError naming it when it cannot be read.
std::string read_file(const std::string& path);

struct Corpus {
  std::vector<char32_t> vocab;    // sorted distinct code points
  std::vector<std::int64_t> ids;  // the whole text as ids
  std::int64_t n_train = 0;       // ids[0, n_train) train, ids[n_train, n) validate

  // The text of --text FILE, or the fortunes when `path` is empty.
  static Corpus load(const std::string& path);
  static Corpus from_bytes(const std::string& bytes);

  std::int64_t vocab_size() const { return static_cast<std::int64_t>(vocab.size()); }
  std::span<const std::int64_t> train() const { return {ids.data(), static_cast<std::size_t>(n_train)}; }
  std::span<const std::int64_t> val() const {
    return {ids.data() + n_train, ids.size() - static_cast<std::size_t>(n_train)};
  }
  // The vocabulary as UTF-8 (a checkpoint's "vocab").
  std::string vocab_utf8() const { return encode_utf8(vocab); }
  // The ids of the characters of `text` (UTF-8) that are in the vocabulary; the others are dropped.
  std::vector<std::int64_t> encode(const std::string& text) const;
  // The characters of `ids`, as UTF-8.
  std::string decode(std::span<const std::int64_t> ids) const;
};

// splitmix64, the generator of the gpt batch offsets.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

// One batch: ids x [B, T] and the next characters y [B, T] (int64); `reset` says a recurrent
// model's state starts from zeros.
struct Batch {
  tg::Tensor x, y;
  bool reset = false;
};

// Rows x[b] = ids[starts[b], starts[b] + T), y[b] = the same shifted by one.
Batch rows_at(std::span<const std::int64_t> ids, std::span<const std::int64_t> starts, std::int64_t T = kContext);

// gpt: each step B random windows of the training text, offsets drawn from one splitmix64 stream.
class RandomWindows {
 public:
  RandomWindows(std::span<const std::int64_t> train, std::int64_t batch_size, std::uint64_t seed);
  Batch next();
  void skip_steps(std::int64_t steps);  // as if next() had been called `steps` times

 private:
  std::span<const std::int64_t> train_;
  std::int64_t batch_size_;
  SplitMix64 rng_;
};

// lstm / gru: B contiguous streams of L = n / B ids; chunk k is [k T, k T + T) of each stream.
class Streams {
 public:
  Streams(std::span<const std::int64_t> ids, std::int64_t batch_size);
  std::int64_t chunks() const { return chunks_; }  // K = (L - 1) / T
  Batch chunk(std::int64_t k) const;
  Batch for_step(std::int64_t step) const;  // chunk step % K, reset when it is 0

 private:
  std::span<const std::int64_t> ids_;
  std::int64_t batch_size_, length_, chunks_;
};

}  // namespace char_lm
