// SPDX-License-Identifier: MIT
// The safetensors format (see safetensors.hpp), read and written with nlohmann-json.
// The loader validates everything the header claims against the file's real size before it
// allocates a single tensor, so a corrupt header cannot ask for gigabytes.
#include "tapegrad/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "tapegrad/error.hpp"
#include "tapegrad/io.hpp"

namespace tg {

namespace {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian, as this host must be");

// Note: ordered_json keeps the header's key order, so tensors that share an offset (empty
// ones) come back in the order they were written.
using Json = nlohmann::ordered_json;

// The limit the reference implementation enforces; no real header comes close.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

// Note: a header needs three levels ({"name": {"shape": [2, 3]}}), but nlohmann's parser
// accepts any depth, and copying or printing a parsed value recurses once per level: an
// ordered_json object copies its earlier entries when it grows, so {"w": {"shape": [[[...]]],
// "data_offsets": ...}} a million levels deep, 2 MB on disk, overflowed the stack inside
// Json::parse. The parser's callback refuses anything deeper than this, long before that.
constexpr int kMaxJsonDepth = 64;

// The element types a file may hold: the four tapegrad has, and float16 and bfloat16, which are
// read and converted to float32 (PyTorch checkpoints in half precision).
enum class FileDtype { F32, F64, I64, BOOL, F16, BF16 };

struct FileDtypeInfo {
  const char* code;
  FileDtype file;
  std::size_t bytes;
  Dtype dtype;  // what it loads as
};
constexpr FileDtypeInfo kFileDtypes[] = {{"F32", FileDtype::F32, 4, kFloat32}, {"F64", FileDtype::F64, 8, kFloat64},
                                         {"I64", FileDtype::I64, 8, kInt64},   {"BOOL", FileDtype::BOOL, 1, kBool},
                                         {"F16", FileDtype::F16, 2, kFloat32}, {"BF16", FileDtype::BF16, 2, kFloat32}};

const char* code_of(Dtype d) {
  for (const FileDtypeInfo& f : kFileDtypes)
    if (f.dtype == d) return f.code;  // the first match: the dtype's own code
  return "?";
}

struct Entry {
  std::string name;
  FileDtypeInfo type;
  Shape shape;
  std::uint64_t begin, end;  // [begin, end) in the data buffer
};

struct Header {
  std::vector<Entry> entries;  // sorted by data offset
  std::map<std::string, std::string> metadata;
};

[[noreturn]] void corrupt(const std::string& path, const std::string& problem) {
  fail<IoError>("load_safetensors {}: {}", path, problem);
}

// nlohmann's parser keeps the last of two equal keys silently; the callback sees every key
// as it is read, so a duplicated tensor name (or a key repeated inside one entry) is caught.
Json parse_json(const std::string& text, const std::string& path) {
  // Note: nlohmann's lexer takes a NUL byte for the end of the input, so "{}" followed by a
  // NUL and anything at all would parse as "{}". JSON allows no raw NUL anywhere (not even
  // inside strings), and the format pads with spaces only.
  if (const std::size_t nul = text.find('\0'); nul != std::string::npos)
    corrupt(path, fmt::format("the header holds a NUL byte at offset {} of {}; a safetensors header is JSON padded "
                              "with spaces",
                              nul, text.size()));
  std::vector<std::set<std::string>> keys_of_open_objects;
  std::string duplicate;
  bool duplicate_is_tensor = false;
  auto watch = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth)
      corrupt(path, fmt::format("the header nests JSON lists or objects more than {} levels deep, where a "
                                "safetensors header needs 3; it is corrupt or not a safetensors header",
                                kMaxJsonDepth));
    if (event == Json::parse_event_t::object_start) keys_of_open_objects.emplace_back();
    if (event == Json::parse_event_t::object_end) keys_of_open_objects.pop_back();
    if (event == Json::parse_event_t::key && duplicate.empty() &&
        !keys_of_open_objects.back().insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
      duplicate_is_tensor = depth == 1;
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(text.begin(), text.end(), watch);
  } catch (const Json::exception& e) {
    corrupt(path, fmt::format("the header is not valid UTF-8 JSON ({})", e.what()));
  }
  if (!duplicate.empty())
    corrupt(path, duplicate_is_tensor ? fmt::format("the tensor name '{}' appears twice in the header", duplicate)
                                      : fmt::format("the key '{}' appears twice inside one header entry", duplicate));
  if (!header.is_object()) corrupt(path, fmt::format("the header is a JSON {}, not an object", header.type_name()));
  return header;
}

// A JSON number that is a non-negative integer no larger than `max`.
std::uint64_t unsigned_number(const Json& j, std::uint64_t max, const std::string& path, const std::string& what) {
  if (!j.is_number_unsigned() || j.get<std::uint64_t>() > max)
    corrupt(path, fmt::format("{} must be a non-negative integer below 2^63, not {}", what, j.dump()));
  return j.get<std::uint64_t>();
}

Entry parse_entry(const std::string& name, const Json& info, const std::string& path) {
  if (!info.is_object()) corrupt(path, fmt::format("the entry of tensor '{}' is {}, not an object", name, info.dump()));
  for (const auto& [key, _] : info.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      corrupt(path, fmt::format("tensor '{}' has an unexpected key '{}'", name, key));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!info.contains(key)) corrupt(path, fmt::format("tensor '{}' has no '{}'", name, key));

  Entry e{name, kFileDtypes[0], Shape{}, 0, 0};
  const Json& dtype = info["dtype"];
  bool known = false;
  for (const FileDtypeInfo& f : kFileDtypes)
    if (dtype.is_string() && dtype.get<std::string>() == f.code) {
      e.type = f;
      known = true;
    }
  if (!known)
    corrupt(path, fmt::format("tensor '{}' has dtype {}, which tapegrad does not read; F32, F64, I64 and BOOL are "
                              "read as they are, F16 and BF16 as float32 (convert it with .float() before saving)",
                              name, dtype.dump()));

  const Json& shape = info["shape"];
  if (!shape.is_array()) corrupt(path, fmt::format("the shape of tensor '{}' is {}, not a list", name, shape.dump()));
  if (shape.size() > static_cast<std::size_t>(Shape::kMaxRank))
    corrupt(path, fmt::format("tensor '{}' has {} dimensions; tapegrad supports at most {}", name, shape.size(),
                              Shape::kMaxRank));
  constexpr auto kInt64Max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  for (const Json& d : shape)
    e.shape.push_back(static_cast<std::int64_t>(
        unsigned_number(d, kInt64Max, path, fmt::format("every dimension of tensor '{}'", name))));
  std::uint64_t numel = 0;
  // Shape::numel throws a tg::Error of its own kind on overflow; the caller of a reader is
  // promised an IoError naming the file, whatever the header holds.
  try {
    numel = static_cast<std::uint64_t>(e.shape.numel());
  } catch (const Error&) {
    corrupt(path, fmt::format("the shape {} of tensor '{}' has more elements than int64 can count", e.shape, name));
  }
  if (numel > std::numeric_limits<std::uint64_t>::max() / e.type.bytes)
    corrupt(path, fmt::format("the shape {} of tensor '{}' needs more bytes than 64 bits can count", e.shape, name));

  const Json& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    corrupt(path, fmt::format("the data_offsets of tensor '{}' are {}, not [begin, end]", name, offsets.dump()));
  e.begin = unsigned_number(offsets[0], kInt64Max, path, fmt::format("the data_offsets of tensor '{}'", name));
  e.end = unsigned_number(offsets[1], kInt64Max, path, fmt::format("the data_offsets of tensor '{}'", name));
  if (e.end < e.begin || e.end - e.begin != numel * e.type.bytes)
    corrupt(path, fmt::format("tensor '{}' of shape {} and dtype {} needs {} bytes but its data_offsets [{}, {}] "
                              "span {}",
                              name, e.shape, dtype.get<std::string>(), numel * e.type.bytes, e.begin, e.end,
                              e.end < e.begin ? "a negative length" : std::to_string(e.end - e.begin)));
  return e;
}

std::map<std::string, std::string> parse_metadata(const Json& metadata, const std::string& path) {
  if (!metadata.is_object()) corrupt(path, fmt::format("__metadata__ is {}, not an object", metadata.dump()));
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : metadata.items()) {
    if (!value.is_string()) corrupt(path, fmt::format("__metadata__ '{}' is {}, not a string", key, value.dump()));
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

// Opens `path`, checks the length prefix, parses and validates the header, and leaves `in`
// at the start of the data buffer.
Header read_header(const std::string& path, std::ifstream& in) {
  std::error_code error;
  const std::uint64_t file_size = std::filesystem::file_size(path, error);
  if (error) corrupt(path, fmt::format("cannot read the file ({}); check the path", error.message()));
  in.open(path, std::ios::binary);
  if (!in) corrupt(path, "cannot open the file; check the path and its permissions");
  if (file_size < 8)
    corrupt(path, fmt::format("the file has {} bytes, but a safetensors file starts with an 8-byte header length",
                              file_size));
  unsigned char prefix[8];
  in.read(reinterpret_cast<char*>(prefix), 8);
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | prefix[i];
  if (header_size >= kMaxHeaderBytes)
    corrupt(path,
            fmt::format("the header length {} is over the 100 MB limit; this is not a safetensors file", header_size));
  if (header_size > file_size - 8)
    corrupt(path, fmt::format("the header length {} runs past the end of the file ({} bytes): the file is truncated",
                              header_size, file_size));
  std::string text(header_size, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(header_size)))
    corrupt(path, "reading the header failed; the file changed while it was read");

  Header header;
  const Json json = parse_json(text, path);
  for (const auto& [name, info] : json.items()) {
    if (name == "__metadata__")
      header.metadata = parse_metadata(info, path);
    else
      header.entries.push_back(parse_entry(name, info, path));
  }
  // The byte ranges must tile the data buffer exactly: no overlaps, no gaps, nothing extra.
  const std::uint64_t buffer_size = file_size - 8 - header_size;
  std::stable_sort(header.entries.begin(), header.entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : header.entries) {
    if (e.end > buffer_size)
      corrupt(path, fmt::format("tensor '{}' has data_offsets [{}, {}] but the data buffer has only {} bytes: the "
                                "file is truncated or the offsets are wrong",
                                e.name, e.begin, e.end, buffer_size));
    if (e.begin < covered)
      corrupt(path, fmt::format("tensor '{}' at bytes [{}, {}) overlaps tensor '{}' at [{}, {})", e.name, e.begin,
                                e.end, previous->name, previous->begin, previous->end));
    if (e.begin > covered)
      corrupt(path, fmt::format("bytes [{}, {}) of the data buffer belong to no tensor (a gap before tensor '{}')",
                                covered, e.begin, e.name));
    covered = e.end;
    previous = &e;
  }
  if (covered != buffer_size)
    corrupt(path, fmt::format("the tensors cover {} bytes but the data buffer has {}: bytes [{}, {}) belong to no "
                              "tensor",
                              covered, buffer_size, covered, buffer_size));
  return header;
}

// float16 and bfloat16 bit patterns as float32: both widen exactly.
float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  std::uint32_t bits;
  if (exponent == 0x1f) {  // inf or NaN
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {  // normal
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {  // zero
    bits = sign;
  } else {  // subnormal: normalise it
    exponent = 113;
    while (!(mantissa & 0x400u)) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}
float bfloat_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

// The tensor an entry's bytes hold, converted to its tapegrad dtype (F16 and BF16 to float32).
Tensor decode(const Entry& e, const std::string& raw, const std::string& path) {
  Tensor t = empty(e.shape, {.dtype = e.type.dtype});
  if (e.type.file == FileDtype::F16 || e.type.file == FileDtype::BF16) {
    float* out = t.data<float>();
    for (std::size_t i = 0; i < raw.size() / 2; ++i) {
      std::uint16_t v = static_cast<std::uint16_t>(static_cast<unsigned char>(raw[2 * i]) |
                                                   static_cast<unsigned char>(raw[2 * i + 1]) << 8);
      out[i] = e.type.file == FileDtype::F16 ? half_to_float(v) : bfloat_to_float(v);
    }
    return t;
  }
  if (e.type.file == FileDtype::BOOL)  // a bool byte is 0 or 1; anything else is no bool at all
    for (std::size_t i = 0; i < raw.size(); ++i)
      if (static_cast<unsigned char>(raw[i]) > 1)
        corrupt(path, fmt::format("tensor '{}' is BOOL but its byte {} is {}; a bool is stored as 0 or 1", e.name, i,
                                  static_cast<int>(static_cast<unsigned char>(raw[i]))));
  if (!raw.empty()) std::memcpy(t.raw_data(), raw.data(), raw.size());
  return t;
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> load_safetensors(const std::string& path) {
  std::ifstream in;
  Header header = read_header(path, in);
  std::vector<std::pair<std::string, Tensor>> out;
  out.reserve(header.entries.size());
  // Entries are sorted and tile the buffer, so one sequential pass reads them all.
  for (const Entry& e : header.entries) {
    const auto bytes = static_cast<std::streamsize>(e.end - e.begin);
    std::string raw(static_cast<std::size_t>(bytes), '\0');
    if (bytes > 0 && !in.read(raw.data(), bytes))
      corrupt(path, fmt::format("reading tensor '{}' failed; the file changed while it was read", e.name));
    out.emplace_back(e.name, decode(e, raw, path));
  }
  return out;
}

std::map<std::string, std::string> load_safetensors_metadata(const std::string& path) {
  std::ifstream in;
  Header header = read_header(path, in);
  // The file must be one load_safetensors accepts: its BOOL data is read to check every byte.
  const std::streamoff buffer = in.tellg();
  for (const Entry& e : header.entries) {
    if (e.type.file != FileDtype::BOOL || e.end == e.begin) continue;
    std::string raw(e.end - e.begin, '\0');
    in.seekg(buffer + static_cast<std::streamoff>(e.begin));
    if (!in.read(raw.data(), static_cast<std::streamsize>(raw.size())))
      corrupt(path, fmt::format("reading tensor '{}' failed; the file changed while it was read", e.name));
    decode(e, raw, path);
  }
  return header.metadata;
}

void save_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors, const std::string& path,
                      const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__")
      fail<ValueError>("save_safetensors {}: '__metadata__' is reserved and cannot name a tensor", path);
    if (!names.insert(name).second)
      fail<ValueError>("save_safetensors {}: the name '{}' is given twice; tensor names must be unique", path, name);
    if (!t.defined()) fail<ValueError>("save_safetensors {}: tensor '{}' is undefined", path, name);
    const std::uint64_t bytes = static_cast<std::uint64_t>(t.numel()) * itemsize(t.dtype());
    Json shape = Json::array();
    for (std::int64_t d : t.shape()) shape.push_back(d);
    header[name] = {
        {"dtype", code_of(t.dtype())}, {"shape", std::move(shape)}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::type_error& e) {
    fail<ValueError>("save_safetensors {}: a tensor name or metadata string is not valid UTF-8 ({})", path, e.what());
  }
  // Note: padding to a multiple of 8 aligns the data buffer for 8-byte loads, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + text.size() + offset);
  for (int i = 0; i < 8; ++i) out += static_cast<char>((static_cast<std::uint64_t>(text.size()) >> (8 * i)) & 0xff);
  out += text;
  for (const auto& [_, t] : tensors)
    if (t.numel() > 0)
      out.append(static_cast<const char*>(t.raw_data()), static_cast<std::size_t>(t.numel()) * itemsize(t.dtype()));
  write_file_atomic(path, out);
}

}  // namespace tg
