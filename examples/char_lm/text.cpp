// SPDX-License-Identifier: MIT
#include "char_lm/text.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>

namespace char_lm {

namespace {

// The code points of valid UTF-8 (the well-formed sequences of Unicode's table 3-7), or nothing.
std::optional<std::vector<char32_t>> decode_utf8(const std::string& bytes) {
  std::vector<char32_t> out;
  out.reserve(bytes.size());
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  auto continuation = [&](std::size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return i < n && p[i] >= lo && p[i] <= hi;
  };
  for (std::size_t i = 0; i < n;) {
    const unsigned b = p[i];
    if (b < 0x80) {
      out.push_back(b);
      i += 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
      if (!continuation(i + 1)) return std::nullopt;
      out.push_back(((b & 0x1F) << 6) | (p[i + 1] & 0x3F));
      i += 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      // E0: A0..BF (no overlong forms); ED: 80..9F (no surrogates)
      const unsigned lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
      if (!continuation(i + 1, lo, hi) || !continuation(i + 2)) return std::nullopt;
      out.push_back(((b & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F));
      i += 3;
    } else if (b >= 0xF0 && b <= 0xF4) {
      // F0: 90..BF (no overlong forms); F4: 80..8F (nothing above U+10FFFF)
      const unsigned lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
      if (!continuation(i + 1, lo, hi) || !continuation(i + 2) || !continuation(i + 3)) return std::nullopt;
      out.push_back(((b & 0x07) << 18) | ((p[i + 1] & 0x3F) << 12) | ((p[i + 2] & 0x3F) << 6) | (p[i + 3] & 0x3F));
      i += 4;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace

std::vector<char32_t> decode_text(const std::string& bytes) {
  if (auto utf8 = decode_utf8(bytes)) return std::move(*utf8);
  std::vector<char32_t> latin1(bytes.size());
  std::transform(bytes.begin(), bytes.end(), latin1.begin(), [](char c) { return static_cast<unsigned char>(c); });
  return latin1;
}

std::string encode_utf8(std::span<const char32_t> text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) tg::fail<tg::IoError>("cannot read --text {}: it is a directory", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) tg::fail<tg::IoError>("cannot read --text {}: {}", path, std::strerror(errno));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) tg::fail<tg::IoError>("cannot read --text {}: read error", path);
  return std::move(bytes).str();
}

std::string read_fortunes(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string fix =
      "install Debian's fortunes package (apt-get install fortunes, as scripts/setup.sh does) "
      "or pass --text FILE to train on another text";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) tg::fail<tg::IoError>("no text to train on: {} does not exist; {}", dir, fix);
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (entry.is_symlink() || !entry.is_regular_file() || name.ends_with(".dat")) continue;
    names.push_back(name);
  }
  if (ec) tg::fail<tg::IoError>("cannot list {}: {}; {}", dir, ec.message(), fix);
  std::sort(names.begin(), names.end());  // byte order: char_traits<char> compares as unsigned char
  std::string text;
  for (const std::string& name : names) {
    std::ifstream in(fs::path(dir) / name, std::ios::binary);
    if (!in) tg::fail<tg::IoError>("cannot read {}/{}: {}", dir, name, std::strerror(errno));
    text.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (text.empty()) tg::fail<tg::IoError>("no text to train on: {} has no fortune files; {}", dir, fix);
  return text;
}

Corpus Corpus::load(const std::string& path) { return from_bytes(path.empty() ? read_fortunes() : read_file(path)); }

Corpus Corpus::from_bytes(const std::string& bytes) {
  Corpus c;
  // Note: the code points go straight into `ids` and are replaced there by their index, so that
  // the text is held once (20 MB for the fortunes) rather than also as code points and a sorted copy.
  {
    std::vector<char32_t> text = decode_text(bytes);
    c.ids.assign(text.begin(), text.end());
  }
  std::vector<bool> seen(0x110000);
  for (std::int64_t id : c.ids) seen[static_cast<std::size_t>(id)] = true;
  std::vector<std::int32_t> index(seen.size(), -1);
  for (std::size_t cp = 0; cp < seen.size(); ++cp)
    if (seen[cp]) {
      index[cp] = static_cast<std::int64_t>(c.vocab.size());
      c.vocab.push_back(static_cast<char32_t>(cp));
    }
  for (std::int64_t& id : c.ids) id = index[static_cast<std::size_t>(id)];
  c.n_train = static_cast<std::int64_t>(c.ids.size()) * 9 / 10;
  return c;
}

std::vector<std::int64_t> Corpus::encode(const std::string& text) const {
  std::vector<std::int64_t> out;
  for (char32_t c : decode_text(text)) {
    auto it = std::lower_bound(vocab.begin(), vocab.end(), c);
    if (it != vocab.end() && *it == c) out.push_back(it - vocab.begin());
  }
  return out;
}

std::string Corpus::decode(std::span<const std::int64_t> ids) const {
  std::vector<char32_t> text;
  text.reserve(ids.size());
  for (std::int64_t id : ids) text.push_back(vocab.at(static_cast<std::size_t>(id)));
  return encode_utf8(text);
}

Batch rows_at(std::span<const std::int64_t> ids, std::span<const std::int64_t> starts, std::int64_t T) {
  const auto n = static_cast<std::int64_t>(starts.size());
  Batch batch{tg::empty({n, T}, {.dtype = tg::kInt64}), tg::empty({n, T}, {.dtype = tg::kInt64})};
  std::int64_t *x = batch.x.data<std::int64_t>(), *y = batch.y.data<std::int64_t>();
  for (std::int64_t b = 0; b < n; ++b) {
    std::copy_n(ids.data() + starts[b], T, x + b * T);
    std::copy_n(ids.data() + starts[b] + 1, T, y + b * T);
  }
  return batch;
}

RandomWindows::RandomWindows(std::span<const std::int64_t> train, std::int64_t batch_size, std::uint64_t seed)
    : train_(train), batch_size_(batch_size), rng_(seed) {}

Batch RandomWindows::next() {
  const auto range = static_cast<std::uint64_t>(static_cast<std::int64_t>(train_.size()) - kContext);
  std::vector<std::int64_t> starts(static_cast<std::size_t>(batch_size_));
  for (auto& o : starts) o = static_cast<std::int64_t>(rng_.next() % range);
  return rows_at(train_, starts);
}

void RandomWindows::skip_steps(std::int64_t steps) {
  for (std::int64_t i = 0; i < steps * batch_size_; ++i) rng_.next();
}

Streams::Streams(std::span<const std::int64_t> ids, std::int64_t batch_size)
    : ids_(ids),
      batch_size_(batch_size),
      length_(static_cast<std::int64_t>(ids.size()) / batch_size),
      chunks_(length_ > 0 ? (length_ - 1) / kContext : 0) {}

Batch Streams::chunk(std::int64_t k) const {
  std::vector<std::int64_t> starts(static_cast<std::size_t>(batch_size_));
  for (std::int64_t b = 0; b < batch_size_; ++b) starts[b] = b * length_ + k * kContext;
  return rows_at(ids_, starts);
}

Batch Streams::for_step(std::int64_t step) const {
  const std::int64_t k = step % chunks_;
  Batch batch = chunk(k);
  batch.reset = k == 0;
  return batch;
}

}  // namespace char_lm
