// SPDX-License-Identifier: MIT
// safetensors files: round trips, the exact bytes written, files laid out differently from
// ours, and every kind of bad file. The bad files are built byte by byte below.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "tapegrad/safetensors.hpp"
#include "test_util.hpp"

using tg::Shape;
using tg::Tensor;
namespace fs = std::filesystem;
using Named = std::vector<std::pair<std::string, Tensor>>;

using tg::test::read_bytes;
using tg::test::TempDir;
using tg::test::write_bytes;

namespace {

// The 8-byte little-endian length, the header as given (no padding) and the data.
std::string safetensors_bytes(const std::string& header, const std::string& data, std::uint64_t length) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((length >> (8 * i)) & 0xff);
  return out + header + data;
}
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return safetensors_bytes(header, data, header.size());
}

template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), values.begin(), out.size());
  return out;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), static_cast<std::size_t>(a.numel()) * tg::itemsize(a.dtype())) == 0;
}

std::vector<std::string> names_of(const Named& tensors) {
  std::vector<std::string> names;
  for (const auto& [name, _] : tensors) names.push_back(name);
  return names;
}

}  // namespace

TEST_CASE("save_safetensors then load_safetensors gives back the same tensors", "[io][safetensors]") {
  TempDir dir("st_roundtrip");
  tg::Generator gen(5);
  const Named tensors = {
      {"conv.weight", tg::randn({2, 1, 3, 3}, gen)},
      {"fc.bias", tg::randn({4}, gen, {.dtype = tg::kFloat64})},
      {"scalar", tg::scalar(-2.5)},
      {"empty", tg::zeros({0, 3})},
      {"empty64", tg::zeros({0}, {.dtype = tg::kFloat64})},
      {"odd", tg::randn({3}, gen)},  // 12 bytes: the next tensor starts unaligned
      {"wide", tg::randn({1, 2, 1, 2, 1, 2, 1, 2}, gen, {.dtype = tg::kFloat64})},
      {"unicode \xc3\xa9t\xc3\xa9", tg::ones({1})},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"epoch", "3"}, {"note", "a \"quoted\" \\"}};
  for (bool with_metadata : {false, true}) {
    INFO("with metadata: " << with_metadata);
    const std::string path = dir.file("t.safetensors");
    tg::save_safetensors(tensors, path, with_metadata ? metadata : std::map<std::string, std::string>{});
    const Named back = tg::load_safetensors(path);
    REQUIRE(names_of(back) == names_of(tensors));
    for (std::size_t i = 0; i < back.size(); ++i) {
      INFO(back[i].first);
      CHECK(same_bits(back[i].second, tensors[i].second));
      CHECK(!back[i].second.requires_grad());
    }
    CHECK(tg::load_safetensors_metadata(path) == (with_metadata ? metadata : std::map<std::string, std::string>{}));
  }
  tg::save_safetensors({}, dir.file("none.safetensors"));
  CHECK(tg::load_safetensors(dir.file("none.safetensors")).empty());
}

TEST_CASE("save_safetensors writes the reference layout", "[io][safetensors]") {
  TempDir dir("st_layout");
  const std::string path = dir.file("t.safetensors");
  tg::save_safetensors({{"w", Tensor{1.5, -2}}, {"s", tg::scalar(0.25, {.dtype = tg::kFloat64})}}, path,
                       {{"format", "pt"}});
  const std::string bytes = read_bytes(path);
  const std::string header = R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("s":{"dtype":"F64","shape":[],"data_offsets":[8,16]}})";
  const std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  CHECK(bytes == safetensors_bytes(padded, raw<float>({1.5f, -2.f}) + raw<double>({0.25})));
  CHECK((bytes.size() - 16) % 8 == 0);  // the data buffer starts 8-byte aligned
}

TEST_CASE("load_safetensors reads layouts other writers produce", "[io][safetensors]") {
  TempDir dir("st_layouts");
  const std::string path = dir.file("t.safetensors");
  SECTION("header order differs from data order; metadata last; padding spaces") {
    write_bytes(path, safetensors_bytes(R"({"b":{"data_offsets":[8,16],"shape":[1],"dtype":"F64"},)"
                                        R"( "a" : {"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},)"
                                        R"("__metadata__":{}}     )",
                                        raw<float>({1, 2}) + raw<double>({3})));
    const Named back = tg::load_safetensors(path);
    REQUIRE(names_of(back) == std::vector<std::string>{"a", "b"});
    CHECK(back[0].second.shape() == Shape{2, 1});
    CHECK(back[0].second.tolist() == std::vector<double>{1, 2});
    CHECK(back[1].second.dtype() == tg::kFloat64);
    CHECK(back[1].second.tolist() == std::vector<double>{3});
    CHECK(tg::load_safetensors_metadata(path).empty());
  }
  SECTION("int64, bool, and half precision widened to float32") {
    // float16 1.5 = 0x3e00, -2 = 0xc000; bfloat16 1.5 = 0x3fc0, -2 = 0xc000.
    write_bytes(path,
                safetensors_bytes(R"({"i":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
                                  R"("m":{"dtype":"BOOL","shape":[3],"data_offsets":[16,19]},)"
                                  R"("h":{"dtype":"F16","shape":[2],"data_offsets":[19,23]},)"
                                  R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[23,27]}})",
                                  raw<std::int64_t>({-7, std::int64_t{1} << 53 | 1}) + std::string("\x01\x00\x01", 3) +
                                      std::string("\x00\x3e\x00\xc0", 4) + std::string("\xc0\x3f\x00\xc0", 4)));
    const Named back = tg::load_safetensors(path);
    REQUIRE(back.size() == 4);
    CHECK(back[0].second.dtype() == tg::kInt64);
    CHECK(back[0].second.at<std::int64_t>({1}) == (std::int64_t{1} << 53 | 1));
    CHECK(back[1].second.dtype() == tg::kBool);
    CHECK(tg::to_string(back[1].second) == "tensor([ True, False,  True])");
    CHECK(back[2].second.dtype() == tg::kFloat32);
    CHECK(back[2].second.tolist() == std::vector<double>{1.5, -2});
    CHECK(back[3].second.dtype() == tg::kFloat32);
    CHECK(back[3].second.tolist() == std::vector<double>{1.5, -2});
  }
  SECTION("empty tensors sharing an offset keep the header's order") {
    write_bytes(path, safetensors_bytes(R"({"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                                        R"("y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                        R"("x":{"dtype":"F64","shape":[2,0],"data_offsets":[4,4]}})",
                                        raw<float>({7})));
    CHECK(names_of(tg::load_safetensors(path)) == std::vector<std::string>{"y", "z", "x"});
  }
}

TEST_CASE("bad safetensors files are IoErrors naming the file and the problem", "[io][safetensors]") {
  TempDir dir("st_bad");
  const std::string a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string b = R"("b":{"dtype":"F64","shape":[],"data_offsets":[8,16]})";
  const std::string data = raw<float>({1, 2}) + raw<double>({3});
  const std::string good = safetensors_bytes("{" + a + "," + b + "}", data);
  // The message of the IoError that loading `bytes` throws; it must name the file.
  auto load_error = [&](const std::string& bytes) -> std::string {
    const std::string path = dir.file("bad.safetensors");
    write_bytes(path, bytes);
    try {
      tg::load_safetensors(path);
    } catch (const tg::IoError& e) {
      std::string message = e.what();
      CHECK_THAT(message, Catch::Contains(path));
      CHECK_THROWS_AS(tg::load_safetensors_metadata(path), tg::IoError);
      return message;
    }
    FAIL_CHECK("load_safetensors accepted the file");
    return "";
  };
  // A file whose header is {a, <entry>} over 16 data bytes.
  auto with_b = [&](const std::string& entry) {
    return load_error(safetensors_bytes("{" + a + "," + entry + "}", data));
  };

  write_bytes(dir.file("good.safetensors"), good);
  REQUIRE(tg::load_safetensors(dir.file("good.safetensors")).size() == 2);  // the template is valid

  SECTION("missing file") {
    const std::string path = dir.file("missing.safetensors");
    CHECK_THROWS_AS(tg::load_safetensors(path), tg::IoError);
    CHECK_THROWS_WITH(tg::load_safetensors(path), Catch::Contains(path) && Catch::Contains("No such file"));
  }
  SECTION("shorter than the length prefix") {
    CHECK_THAT(load_error(""), Catch::Contains("has 0 bytes") && Catch::Contains("8-byte header length"));
    CHECK_THAT(load_error(good.substr(0, 7)), Catch::Contains("has 7 bytes"));
  }
  SECTION("truncated in the header") {
    CHECK_THAT(load_error(good.substr(0, 30)),
               Catch::Contains("runs past the end of the file (30 bytes)") && Catch::Contains("truncated"));
  }
  SECTION("truncated in the data") {
    CHECK_THAT(load_error(good.substr(0, good.size() - 1)),
               Catch::Contains("tensor 'b' has data_offsets [8, 16] but the data buffer has only 15 bytes"));
    CHECK_THAT(load_error(good.substr(0, good.size() - 9)), Catch::Contains("tensor 'a'") && Catch::Contains("only 7"));
  }
  SECTION("header length beyond the file or over the limit") {
    CHECK_THAT(load_error(safetensors_bytes("{}", "", 1000)), Catch::Contains("header length 1000 runs past"));
    CHECK_THAT(load_error(safetensors_bytes("{}", "", 1ULL << 40)), Catch::Contains("over the 100 MB limit"));
    CHECK_THAT(load_error(safetensors_bytes("{}", "", ~0ULL)), Catch::Contains("over the 100 MB limit"));
  }
  SECTION("invalid JSON or UTF-8") {
    CHECK_THAT(load_error(safetensors_bytes("{" + a, "")), Catch::Contains("not valid UTF-8 JSON"));
    CHECK_THAT(load_error(safetensors_bytes("", "")), Catch::Contains("not valid UTF-8 JSON"));
    CHECK_THAT(load_error(safetensors_bytes("{\"\xff\":{}}", "")), Catch::Contains("not valid UTF-8 JSON"));
  }
  SECTION("JSON that is not an object") {
    CHECK_THAT(load_error(safetensors_bytes("[1, 2]", "")),
               Catch::Contains("the header is a JSON array, not an object"));
    CHECK_THAT(load_error(safetensors_bytes("7", "")), Catch::Contains("JSON number, not an object"));
  }
  SECTION("unsupported dtype") {
    CHECK_THAT(with_b(R"("b":{"dtype":"I32","shape":[2],"data_offsets":[8,16]})"),
               Catch::Contains("tensor 'b' has dtype \"I32\"") && Catch::Contains("F32, F64, I64 and BOOL"));
    CHECK_THAT(with_b(R"("b":{"dtype":"U8","shape":[8],"data_offsets":[8,16]})"), Catch::Contains("\"U8\""));
    CHECK_THAT(with_b(R"("b":{"dtype":8,"shape":[],"data_offsets":[8,16]})"), Catch::Contains("has dtype 8"));
  }
  SECTION("offsets out of range") {
    CHECK_THAT(with_b(R"("b":{"dtype":"F64","shape":[],"data_offsets":[100,108]})"),
               Catch::Contains("tensor 'b' has data_offsets [100, 108] but the data buffer has only 16 bytes"));
  }
  SECTION("overlapping tensors") {
    CHECK_THAT(
        load_error(safetensors_bytes("{" + a + R"(,"b":{"dtype":"F64","shape":[],"data_offsets":[4,12]}})", data)),
        Catch::Contains("tensor 'b' at bytes [4, 12) overlaps tensor 'a' at [0, 8)"));
    CHECK_THAT(with_b(R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})"), Catch::Contains("overlaps"));
  }
  SECTION("a gap between tensors, before them, or after them") {
    CHECK_THAT(
        load_error(safetensors_bytes("{" + a + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})", data)),
        Catch::Contains("bytes [8, 12) of the data buffer belong to no tensor (a gap before tensor 'b')"));
    CHECK_THAT(load_error(safetensors_bytes(R"({"b":{"dtype":"F64","shape":[],"data_offsets":[8,16]}})", data)),
               Catch::Contains("bytes [0, 8)") && Catch::Contains("gap before tensor 'b'"));
    CHECK_THAT(load_error(good + "xyzw"),
               Catch::Contains("the tensors cover 16 bytes but the data buffer has 20: bytes [16, 20)"));
  }
  SECTION("shape and offsets disagree") {
    CHECK_THAT(with_b(R"("b":{"dtype":"F64","shape":[2],"data_offsets":[8,16]})"),
               Catch::Contains("tensor 'b' of shape [2] and dtype F64 needs 16 bytes but its data_offsets [8, 16] "
                               "span 8"));
    CHECK_THAT(with_b(R"("b":{"dtype":"F64","shape":[],"data_offsets":[16,8]})"), Catch::Contains("negative length"));
    CHECK_THAT(with_b(R"("b":{"dtype":"F64","shape":[],"data_offsets":[8]})"), Catch::Contains("not [begin, end]"));
    CHECK_THAT(with_b(R"("b":{"dtype":"F64","shape":[],"data_offsets":[8,-16]})"),
               Catch::Contains("data_offsets of tensor 'b' must be a non-negative integer"));
  }
  SECTION("bad shapes") {
    CHECK_THAT(with_b(R"("b":{"dtype":"F64","shape":[-1],"data_offsets":[8,16]})"),
               Catch::Contains("every dimension of tensor 'b' must be a non-negative integer below 2^63, not -1"));
    CHECK_THAT(with_b(R"("b":{"dtype":"F64","shape":[1.0],"data_offsets":[8,16]})"), Catch::Contains("not 1.0"));
    CHECK_THAT(with_b(R"("b":{"dtype":"F64","shape":[9223372036854775808],"data_offsets":[8,16]})"),
               Catch::Contains("below 2^63"));
    CHECK_THAT(with_b(R"("b":{"dtype":"F64","shape":2,"data_offsets":[8,16]})"), Catch::Contains("not a list"));
    CHECK_THAT(with_b(R"("b":{"dtype":"F64","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[8,16]})"),
               Catch::Contains("9 dimensions; tapegrad supports at most 8"));
    CHECK_THAT(with_b(R"("b":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[8,16]})"),
               Catch::Contains("more elements than int64 can count"));
    CHECK_THAT(with_b(R"("b":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[8,16]})"),
               Catch::Contains("more bytes than 64 bits can count"));
  }
  SECTION("malformed entries") {
    CHECK_THAT(with_b(R"("b":[8,16])"), Catch::Contains("the entry of tensor 'b' is [8,16], not an object"));
    CHECK_THAT(with_b(R"("b":{"dtype":"F64","data_offsets":[8,16]})"), Catch::Contains("tensor 'b' has no 'shape'"));
    CHECK_THAT(with_b(R"("b":{"dtype":"F64","shape":[],"data_offsets":[8,16],"stride":[]})"),
               Catch::Contains("tensor 'b' has an unexpected key 'stride'"));
    CHECK_THAT(with_b(R"("b":{"dtype":"F64","shape":[],"shape":[1],"data_offsets":[8,16]})"),
               Catch::Contains("the key 'shape' appears twice inside one header entry"));
  }
  SECTION("duplicate tensor names") {
    CHECK_THAT(
        load_error(safetensors_bytes("{" + a + R"(,"a":{"dtype":"F64","shape":[],"data_offsets":[8,16]}})", data)),
        Catch::Contains("the tensor name 'a' appears twice in the header"));
  }
  SECTION("bad metadata") {
    CHECK_THAT(with_b(b + R"(,"__metadata__":{"epoch":3})"),
               Catch::Contains("__metadata__ 'epoch' is 3, not a string"));
    CHECK_THAT(with_b(b + R"(,"__metadata__":["x"])"), Catch::Contains("__metadata__ is [\"x\"], not an object"));
  }
}

TEST_CASE("save_safetensors refuses names it cannot write, and writes nothing", "[io][safetensors]") {
  TempDir dir("st_save_bad");
  const std::string path = dir.file("t.safetensors");
  auto save_error = [&](const Named& tensors, const std::map<std::string, std::string>& metadata = {}) {
    std::string message;
    try {
      tg::save_safetensors(tensors, path, metadata);
    } catch (const tg::ValueError& e) {
      message = e.what();
    }
    CHECK_THAT(message, Catch::Contains(path));
    CHECK(!fs::exists(path));
    return message;
  };
  CHECK_THAT(save_error({{"a", tg::ones({1})}, {"a", tg::ones({2})}}), Catch::Contains("the name 'a' is given twice"));
  CHECK_THAT(save_error({{"__metadata__", tg::ones({1})}}), Catch::Contains("'__metadata__' is reserved"));
  CHECK_THAT(save_error({{"a", Tensor()}}), Catch::Contains("tensor 'a' is undefined"));
  CHECK_THAT(save_error({{"\xff", tg::ones({1})}}), Catch::Contains("not valid UTF-8"));
  CHECK_THAT(save_error({}, {{"k", "\xc3"}}), Catch::Contains("not valid UTF-8"));
  CHECK(fs::is_empty(dir.path));
}

TEST_CASE("save_safetensors into a directory that does not exist is an IoError", "[io][safetensors]") {
  TempDir dir("st_nodir");
  const std::string path = dir.file("no/such/dir/t.safetensors");
  CHECK_THROWS_WITH(tg::save_safetensors({{"a", tg::ones({2})}}, path),
                    Catch::Contains(path) && Catch::Contains("directory exists"));
  CHECK_THROWS_AS(tg::load_safetensors(dir.path.string()), tg::IoError);  // a directory is not a file
}

// Not run with the other tests ("[.]" hides it): tests/tools/check_safetensors.cmake runs it
// to write a file, and the summary Python must print for it, into $TAPEGRAD_SAFETENSORS_OUT.
TEST_CASE("write a safetensors file for the Python reader", "[.][write-safetensors-for-python]") {
  const char* out = std::getenv("TAPEGRAD_SAFETENSORS_OUT");
  REQUIRE(out != nullptr);
  tg::Generator gen(7);
  const Named tensors = {
      {"0.weight", tg::randn({6, 1, 5, 5}, gen)},
      {"0.bias", tg::randn({6}, gen, {.dtype = tg::kFloat64})},
      {"scale", tg::scalar(2.5)},
      {"empty", tg::zeros({0, 3})},
      {"3.running_mean", tg::randn({3}, gen)},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"writer", "tapegrad"}};
  tg::save_safetensors(tensors, out, metadata);
  std::string summary;
  for (const auto& [key, value] : metadata) summary += fmt::format("metadata {}={}\n", key, value);
  for (const auto& [name, t] : tensors) {
    double sum = 0;
    for (double v : t.tolist()) sum += v;
    summary += fmt::format("{} {} [{}] {:.9g}\n", name, t.dtype() == tg::kFloat32 ? "F32" : "F64",
                           fmt::join(t.shape(), ", "), sum);
  }
  write_bytes(std::string(out) + ".expected", summary);
}
