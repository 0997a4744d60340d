// SPDX-License-Identifier: MIT
// .npy files: round trips, files written by NumPy itself, and every kind of bad file.
//
// The files in tests/fixtures/npy/ were written once by NumPy 1.24 (Debian's python3-numpy),
// from that directory, with /usr/bin/python3 and this code:
//   import numpy as np
//   np.save("f4_2x3.npy", (np.arange(6, dtype="<f4") / 4 - 0.5).reshape(2, 3))
//   np.save("f8_scalar.npy", np.array(3.25, dtype="<f8"))
//   np.save("f4_empty_0x3.npy", np.zeros((0, 3), dtype="<f4"))
//   with open("f8_v2_2x2.npy", "wb") as f:
//       np.lib.format.write_array(f, np.array([[0.1, 0.2], [0.3, 0.4]], dtype="<f8"), version=(2, 0))
//   with open("f4_v3_3.npy", "wb") as f:
//       np.lib.format.write_array(f, np.array([1.5, -2.5, 1e-3], dtype="<f4"), version=(3, 0))
//   np.save("i8_3.npy", np.arange(3, dtype="<i8"))
//   np.save("f4_big_endian_3.npy", np.arange(3, dtype=">f4"))
//   np.save("f4_fortran_2x3.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
// The other bad files are built byte by byte below.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <thread>

#include "test_util.hpp"

using tg::Shape;
using tg::Tensor;
namespace fs = std::filesystem;

using tg::test::read_bytes;
using tg::test::TempDir;
using tg::test::write_bytes;

namespace {

// A .npy file with the given header dict (newline-terminated, unpadded: readers must not
// require NumPy's alignment) and raw data.
std::string npy(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict + "\n";
  std::string out = std::string("\x93") + "NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  int length_bytes = major == 1 ? 2 : 4;
  for (int i = 0; i < length_bytes; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string f4_bytes(std::initializer_list<float> values) {
  std::string out(values.size() * 4, '\0');
  std::memcpy(out.data(), values.begin(), out.size());
  return out;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), static_cast<std::size_t>(a.numel()) * tg::itemsize(a.dtype())) == 0;
}

}  // namespace

TEST_CASE("save_npy then load_npy gives back the same tensor", "[npy][io]") {
  TempDir dir("npy_roundtrip");
  tg::Generator gen(11);
  for (tg::Dtype dtype : {tg::kFloat32, tg::kFloat64}) {
    for (const Shape& shape :
         {Shape{}, Shape{0}, Shape{0, 3}, Shape{5}, Shape{2, 3}, Shape{2, 3, 4}, Shape{1, 2, 1, 2, 1, 2, 1, 2}}) {
      INFO(tg::dtype_name(dtype) << " " << shape.str());
      Tensor t = tg::randn(shape, gen, {.dtype = dtype});
      std::string path = dir.file("t.npy");
      tg::save_npy(t, path);
      Tensor back = tg::load_npy(path);
      CHECK(back.dtype() == dtype);
      CHECK(back.shape() == shape);
      CHECK(same_bits(back, t));
      CHECK(read_bytes(path).size() % 64 == static_cast<std::size_t>(t.numel()) * tg::itemsize(dtype) % 64);
    }
  }
}

TEST_CASE("save_npy keeps special values bit for bit", "[npy][io]") {
  TempDir dir("npy_special");
  Tensor t{-0.0,
           std::numeric_limits<double>::infinity(),
           -std::numeric_limits<double>::infinity(),
           std::numeric_limits<double>::quiet_NaN(),
           std::numeric_limits<float>::denorm_min(),
           3.4e38};
  tg::save_npy(t, dir.file("special.npy"));
  CHECK(same_bits(tg::load_npy(dir.file("special.npy")), t));
}

TEST_CASE("save_npy writes NumPy's version 1.0 header, aligned to 64 bytes", "[npy][io]") {
  TempDir dir("npy_header");
  auto header_of = [&](const Tensor& t) {
    tg::save_npy(t, dir.file("h.npy"));
    std::string bytes = read_bytes(dir.file("h.npy"));
    REQUIRE(bytes.size() >= 10);
    CHECK(bytes.substr(0, 8) == std::string("\x93") + "NUMPY" + '\x01' + '\0');
    std::size_t length = static_cast<unsigned char>(bytes[8]) | static_cast<std::size_t>(bytes[9]) << 8;
    CHECK((10 + length) % 64 == 0);
    std::string header = bytes.substr(10, length);
    CHECK(header.back() == '\n');
    return header.substr(0, header.find_last_not_of(" \n") + 1);
  };
  CHECK(header_of(tg::zeros({2, 3})) == "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
  CHECK(header_of(tg::zeros({5}, {.dtype = tg::kFloat64})) ==
        "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }");
  CHECK(header_of(tg::scalar(1)) == "{'descr': '<f4', 'fortran_order': False, 'shape': (), }");
}

TEST_CASE("load_npy reads files written by NumPy", "[npy][io]") {
  using tg::test::fixture;
  Tensor a = tg::load_npy(fixture("npy/f4_2x3.npy"));
  CHECK(a.dtype() == tg::kFloat32);
  CHECK(a.shape() == Shape{2, 3});
  CHECK(a.tolist() == std::vector<double>{-0.5, -0.25, 0, 0.25, 0.5, 0.75});

  Tensor s = tg::load_npy(fixture("npy/f8_scalar.npy"));
  CHECK(s.dtype() == tg::kFloat64);
  CHECK(s.dim() == 0);
  CHECK(s.item<double>() == 3.25);

  Tensor e = tg::load_npy(fixture("npy/f4_empty_0x3.npy"));
  CHECK(e.shape() == Shape{0, 3});
  CHECK(e.numel() == 0);

  Tensor v2 = tg::load_npy(fixture("npy/f8_v2_2x2.npy"));  // format version 2.0
  CHECK(v2.dtype() == tg::kFloat64);
  CHECK(v2.tolist() == std::vector<double>{0.1, 0.2, 0.3, 0.4});

  Tensor v3 = tg::load_npy(fixture("npy/f4_v3_3.npy"));  // format version 3.0
  CHECK(v3.tolist() == std::vector<double>{1.5, -2.5, static_cast<double>(1e-3f)});

  Tensor i = tg::load_npy(fixture("npy/i8_3.npy"));  // int64, '<i8'
  CHECK(i.dtype() == tg::kInt64);
  CHECK(i.shape() == Shape{3});
}

TEST_CASE("int64 and bool tensors go through .npy as NumPy writes them", "[npy][io]") {
  TempDir dir("npy_int_bool");
  Tensor i = tg::from_vector(std::vector<std::int64_t>{-3, 0, std::int64_t{1} << 62}, {3});
  tg::save_npy(i, dir.file("i.npy"));
  CHECK(tg::test::read_bytes(dir.file("i.npy")).find("'descr': '<i8'") != std::string::npos);
  Tensor back = tg::load_npy(dir.file("i.npy"));
  CHECK(back.dtype() == tg::kInt64);
  CHECK(back.at<std::int64_t>({2}) == std::int64_t{1} << 62);  // every digit, not through a double
  Tensor m = tg::tensor({{1, 0}, {0, 1}}, {.dtype = tg::kBool});
  tg::save_npy(m, dir.file("m.npy"));
  CHECK(tg::test::read_bytes(dir.file("m.npy")).find("'descr': '|b1'") != std::string::npos);
  Tensor mb = tg::load_npy(dir.file("m.npy"));
  CHECK(mb.dtype() == tg::kBool);
  CHECK(tg::to_string(mb) == "tensor([[ True, False],\n        [False,  True]])");
}

TEST_CASE("load_npy accepts NumPy's header variations", "[npy][io]") {
  TempDir dir("npy_variants");
  std::string path = dir.file("v.npy");
  // Keys in another order, double quotes, no trailing comma, spaces inside the tuple.
  write_bytes(path, npy("{\"shape\": ( 2 , ), 'fortran_order': False, 'descr': '<f4'}", f4_bytes({1.5f, -2})));
  CHECK(tg::load_npy(path).tolist() == std::vector<double>{1.5, -2});
  write_bytes(path, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", f4_bytes({3, 4}), 2));
  CHECK(tg::load_npy(path).shape() == Shape{1, 2});
}

TEST_CASE("bad .npy files are IoErrors naming the file and the problem", "[npy][io]") {
  TempDir dir("npy_bad");
  const std::string good_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string good_data = f4_bytes({1, 2});
  const std::string good = npy(good_dict, good_data);
  // The message of the IoError that loading `path` throws; it must name the file.
  auto error_at = [](const std::string& path) -> std::string {
    try {
      tg::load_npy(path);
    } catch (const tg::IoError& e) {
      std::string message = e.what();
      CHECK_THAT(message, Catch::Contains(path));
      return message;
    }
    FAIL_CHECK("load_npy accepted " << path);
    return "";
  };
  auto load_error = [&](const std::string& name, const std::string& bytes) {
    write_bytes(dir.file(name), bytes);
    return error_at(dir.file(name));
  };
  auto fixture_error = [&](const std::string& name) { return error_at(tg::test::fixture("npy/" + name)); };

  write_bytes(dir.file("good.npy"), good);
  REQUIRE(tg::load_npy(dir.file("good.npy")).tolist() == std::vector<double>{1, 2});  // the template is valid

  SECTION("missing file") {
    CHECK_THROWS_AS(tg::load_npy(dir.file("missing.npy")), tg::IoError);
    CHECK_THROWS_WITH(tg::load_npy(dir.file("missing.npy")),
                      Catch::Contains(dir.file("missing.npy")) && Catch::Contains("cannot open"));
  }
  SECTION("bad magic") {
    std::string bytes = good;
    bytes[5] = 'X';
    CHECK_THAT(load_error("magic.npy", bytes), Catch::Contains("not a .npy file"));
    CHECK_THAT(load_error("text.npy", "hello, world\n"), Catch::Contains("not a .npy file"));
    CHECK_THAT(load_error("empty.npy", ""), Catch::Contains("not a .npy file"));
  }
  SECTION("unsupported version") {
    CHECK_THAT(load_error("v4.npy", npy(good_dict, good_data, 4)),
               Catch::Contains("unsupported .npy format version 4.0"));
    CHECK_THAT(load_error("v0.npy", npy(good_dict, good_data, 0)), Catch::Contains("version 0.0"));
  }
  SECTION("int32 dtype") {
    CHECK_THAT(load_error("i4.npy", npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", f4_bytes({1, 2}))),
               Catch::Contains("unsupported dtype '<i4'") && Catch::Contains("astype"));
  }
  SECTION("a bool byte that is neither 0 nor 1") {
    CHECK_THAT(
        load_error("b1.npy", npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", std::string("\x01\x02"))),
        Catch::Contains("bool") && Catch::Contains("0 or 1"));
  }
  SECTION("big-endian float32") {
    CHECK_THAT(fixture_error("f4_big_endian_3.npy"), Catch::Contains("unsupported dtype '>f4'"));
  }
  SECTION("fortran_order True") { CHECK_THAT(fixture_error("f4_fortran_2x3.npy"), Catch::Contains("Fortran order")); }
  SECTION("truncated data") {
    CHECK_THAT(load_error("short.npy", good.substr(0, good.size() - 1)),
               Catch::Contains("needs 8 data bytes but the file has 7 (truncated)"));
    CHECK_THAT(load_error("nodata.npy", npy(good_dict, "")), Catch::Contains("(truncated)"));
  }
  SECTION("trailing bytes") {
    CHECK_THAT(load_error("long.npy", good + "xyzw"), Catch::Contains("has 12 (trailing bytes)"));
  }
  SECTION("truncated header or preamble") {
    CHECK_THAT(load_error("header.npy", good.substr(0, 30)),
               Catch::Contains("truncated") && Catch::Contains("the header claims"));
    CHECK_THAT(load_error("preamble1.npy", good.substr(0, 8)), Catch::Contains("truncated inside its preamble"));
    CHECK_THAT(load_error("preamble2.npy", npy(good_dict, good_data, 2).substr(0, 11)),
               Catch::Contains("truncated inside its preamble"));
  }
  SECTION("malformed dict") {
    auto bad = [&](const std::string& dict) { return load_error("dict.npy", npy(dict, good_data)); };
    CHECK_THAT(bad("['descr', '<f4']"), Catch::Contains("malformed header") && Catch::Contains("expected '{'"));
    CHECK_THAT(bad("{'descr': '<f4', 'fortran_order': False}"), Catch::Contains("lacks one of"));
    CHECK_THAT(bad("{}"), Catch::Contains("lacks one of"));
    CHECK_THAT(bad("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}"), Catch::Contains("True or False"));
    CHECK_THAT(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x)}"),
               Catch::Contains("expected a dimension"));
    CHECK_THAT(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}"),
               Catch::Contains("expected a dimension"));
    CHECK_THAT(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}"),
               Catch::Contains("unexpected key 'extra'"));
    CHECK_THAT(bad("{'descr: '<f4'"), Catch::Contains("malformed header"));
    CHECK_THAT(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,"), Catch::Contains("unexpected end"));
    CHECK_THAT(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 2)}"),
               Catch::Contains("more than 8 dimensions"));
  }
  SECTION("huge shapes") {
    auto huge = [&](const std::string& shape, const std::string& descr = "<f4") {
      return load_error("huge.npy",
                        npy("{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + "}", good_data));
    };
    CHECK_THAT(huge("(4294967296, 4294967296)"), Catch::Contains("more elements than int64 can count"));
    CHECK_THAT(huge("(99999999999999999999,)"), Catch::Contains("a dimension overflows int64"));
    // 2^61 float64 elements fit in int64 but need 2^64 bytes.
    CHECK_THAT(huge("(2305843009213693952,)", "<f8"), Catch::Contains("more bytes than 64 bits can count"));
    CHECK_THAT(huge("(1152921504606846976,)"),
               Catch::Contains("needs 4611686018427387904 data bytes") && Catch::Contains("(truncated)"));
  }
}

TEST_CASE("save_npy into a directory that does not exist is an IoError", "[npy][io]") {
  TempDir dir("npy_nodir");
  std::string path = dir.file("no/such/dir/t.npy");
  CHECK_THROWS_AS(tg::save_npy(tg::ones({2}), path), tg::IoError);
  CHECK_THROWS_WITH(tg::save_npy(tg::ones({2}), path), Catch::Contains(path) && Catch::Contains("directory exists"));
  CHECK(!fs::exists(dir.path / "no"));
}

TEST_CASE("save_npy replaces a file atomically and leaves no temporary behind", "[npy][io]") {
  TempDir dir("npy_atomic");
  std::string path = dir.file("t.npy");
  tg::save_npy(tg::ones({3}), path);
  tg::save_npy(tg::full({2, 2}, 7, {.dtype = tg::kFloat64}), path);
  Tensor back = tg::load_npy(path);
  CHECK(back.shape() == Shape{2, 2});
  CHECK(back.tolist() == std::vector<double>(4, 7.0));
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

TEST_CASE("a failed save_npy leaves the existing file unchanged", "[npy][io]") {
  TempDir dir("npy_failed");
  std::string path = dir.file("t.npy");
  tg::save_npy(tg::full({3}, 1.5), path);
  const std::string before = read_bytes(path);

  SECTION("the temporary file cannot be created") {
    // With no file descriptors allowed, opening the temporary file fails (EMFILE). The
    // limit is restored while the exception unwinds, before the handler runs: the
    // sanitizers' runtime needs descriptors of its own to check the handler's code.
    rlimit old_limit{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &old_limit) == 0);
    struct RestoreLimit {
      rlimit limit;
      ~RestoreLimit() { ::setrlimit(RLIMIT_NOFILE, &limit); }
    };
    std::string error;
    try {
      RestoreLimit restore{old_limit};
      rlimit none = old_limit;
      none.rlim_cur = 0;
      REQUIRE(::setrlimit(RLIMIT_NOFILE, &none) == 0);
      tg::save_npy(tg::zeros({100}), path);
    } catch (const tg::IoError& e) {
      error = e.what();
    }
    CHECK_THAT(error, Catch::Contains(path) && Catch::Contains("cannot create"));
    CHECK(read_bytes(path) == before);
  }
  SECTION("writing fails half way") {
    // A 1000-byte file size limit stops the write of 40 KB part way through (EFBIG).
    rlimit old_limit{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    rlimit small = old_limit;
    small.rlim_cur = 1000;
    auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    std::string error;
    try {
      tg::save_npy(tg::zeros({10000}), path);
    } catch (const tg::IoError& e) {
      error = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    ::signal(SIGXFSZ, old_handler);
    CHECK_THAT(error, Catch::Contains(path) && Catch::Contains("writing failed"));
    CHECK(read_bytes(path) == before);
    CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);  // no temporary left
  }
  CHECK(tg::load_npy(path).tolist() == std::vector<double>(3, 1.5));
}

TEST_CASE("threads saving to the same path do not trip over each other", "[npy][io][thread]") {
  // Each save has its own temporary file: the last rename wins and every file seen is whole.
  TempDir dir("npy_threads");
  std::string path = dir.file("t.npy");
  int errors[2] = {0, 0};
  auto save_many = [&](int k) {
    Tensor t = tg::full({k == 0 ? 200000 : 10}, k);
    for (int i = 0; i < 40; ++i) {
      try {
        tg::save_npy(t, path);
      } catch (const tg::IoError&) {
        ++errors[k];
      }
    }
  };
  std::thread a(save_many, 0), b(save_many, 1);
  a.join();
  b.join();
  CHECK(errors[0] == 0);
  CHECK(errors[1] == 0);
  Tensor back = tg::load_npy(path);
  CHECK((back.numel() == 200000 || back.numel() == 10));
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}
