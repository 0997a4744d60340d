// SPDX-License-Identifier: MIT
// FashionMNIST: small sets written in a temporary directory, every kind of bad directory,
// and Debian's real files when dataset-fashion-mnist is installed.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <optional>

#include "data/idx_test_util.hpp"
#include "test_util.hpp"

using Catch::Contains;
using tg::FashionMNIST;
using tg::Shape;
using tg::test::ScopedEnv;
using tg::test::TempDir;

TEST_CASE("FashionMNIST loads the train and test files of a directory", "[data][fashion_mnist]") {
  TempDir dir("fmnist_load");
  tg::test::write_fashion_mnist(dir, 12, 5);

  FashionMNIST train(dir.path.string());
  CHECK(train.train());
  CHECK(train.root() == dir.path.string());
  REQUIRE(train.size() == 12);
  CHECK(train.image_bytes().size() == 12 * 784);
  CHECK(train.label_bytes() == tg::test::cyclic_labels(12));
  FashionMNIST test(dir.path.string(), false);
  CHECK_FALSE(test.train());
  CHECK(test.size() == 5);

  tg::Tensor x = train.images(3, 7);
  CHECK(x.dtype() == tg::kFloat32);
  REQUIRE(x.shape() == Shape{4, 1, 28, 28});
  const float* px = x.data<float>();
  for (std::int64_t k = 0; k < 4; ++k)
    for (std::int64_t p = 0; p < 784; ++p)
      REQUIRE(px[k * 784 + p] == static_cast<float>(tg::test::test_pixel(3 + k, p)) / 255.0f);
  CHECK(train.labels(8, 12).tolist() == std::vector<double>{8, 9, 0, 1});
  CHECK(train.images(5, 5).shape() == Shape{0, 1, 28, 28});
  CHECK(train.labels(0, 0).shape() == Shape{0});
}

TEST_CASE("FashionMNIST scales pixels to [0, 1] as x / 255", "[data][fashion_mnist]") {
  TempDir dir("fmnist_scale");
  tg::test::write_fashion_mnist(dir, 8, 1);
  FashionMNIST data(dir.path.string());
  // test_pixel(i, p) = (37 i + p) mod 256 reaches 0 and 255 within 8 images.
  tg::Tensor x = data.images(0, 8);
  std::vector<double> v = x.tolist();
  CHECK(*std::min_element(v.begin(), v.end()) == 0.0);
  CHECK(*std::max_element(v.begin(), v.end()) == 1.0);
  CHECK(x.at({0, 0, 0, 1}) == 1.0f / 255.0f);
  CHECK(x.at({1, 0, 0, 0}) == 37.0f / 255.0f);
}

TEST_CASE("FashionMNIST::get gathers samples in the order asked", "[data][fashion_mnist]") {
  TempDir dir("fmnist_get");
  tg::test::write_fashion_mnist(dir, 12, 1);
  FashionMNIST data(dir.path.string());
  std::vector<std::int64_t> indices{11, 0, 5, 5};
  tg::Batch batch = data.get(indices);
  REQUIRE(batch.images().shape() == Shape{4, 1, 28, 28});
  CHECK(batch.labels().tolist() == std::vector<double>{1, 0, 5, 5});
  for (std::size_t k = 0; k < indices.size(); ++k) {
    auto one = data.images(indices[k], indices[k] + 1).tolist();
    auto got = batch.images().tolist();
    CHECK(std::equal(one.begin(), one.end(), got.begin() + static_cast<std::ptrdiff_t>(k * 784)));
  }
  std::vector<std::int64_t> bad{0, 12};
  CHECK_THROWS_AS(data.get(bad), tg::ValueError);
  CHECK_THROWS_WITH(data.get(bad), Contains("index 12 is not inside [0, 12)"));
  CHECK_THROWS_WITH(data.images(-1, 2), Contains("FashionMNIST::images") && Contains("[-1, 2)"));
  CHECK_THROWS_WITH(data.images(3, 2), Contains("[3, 2) is not inside [0, 12)"));
  CHECK_THROWS_WITH(data.labels(0, 13), Contains("FashionMNIST::labels") && Contains("[0, 13)"));
}

TEST_CASE("FashionMNIST::subset keeps the first samples", "[data][fashion_mnist]") {
  TempDir dir("fmnist_subset");
  tg::test::write_fashion_mnist(dir, 12, 1);
  FashionMNIST data(dir.path.string());
  FashionMNIST first = data.subset(5);
  REQUIRE(first.size() == 5);
  CHECK(first.root() == data.root());
  CHECK(first.train());
  CHECK(first.labels(0, 5).tolist() == data.labels(0, 5).tolist());
  CHECK(first.images(0, 5).tolist() == data.images(0, 5).tolist());
  CHECK(data.subset(100).size() == 12);
  CHECK(data.subset(0).size() == 0);
  CHECK_THROWS_AS(data.subset(-1), tg::ValueError);
}

TEST_CASE("FashionMNIST takes its directory from TAPEGRAD_FASHION_MNIST, else Debian's", "[data][fashion_mnist]") {
  TempDir dir("fmnist_env");
  tg::test::write_fashion_mnist(dir, 3, 2);
  {
    ScopedEnv env("TAPEGRAD_FASHION_MNIST", dir.path.string());
    CHECK(FashionMNIST::default_root() == dir.path.string());
    FashionMNIST data;
    CHECK(data.root() == dir.path.string());
    CHECK(data.size() == 3);
    CHECK(FashionMNIST("", false).size() == 2);
  }
  ScopedEnv empty("TAPEGRAD_FASHION_MNIST", "");
  CHECK(FashionMNIST::default_root() == "/usr/share/datasets/fashion-mnist");
}

TEST_CASE("FashionMNIST reports a missing directory or file", "[data][fashion_mnist]") {
  TempDir dir("fmnist_missing");
  std::string nowhere = dir.file("nowhere");
  CHECK_THROWS_AS(FashionMNIST(nowhere), tg::IoError);
  CHECK_THROWS_WITH(FashionMNIST(nowhere), Contains(nowhere) && Contains("apt-get install dataset-fashion-mnist") &&
                                               Contains("pass the directory"));

  tg::test::write_fashion_mnist(dir, 2, 2);
  std::filesystem::remove(dir.file("t10k-labels-idx1-ubyte.gz"));
  CHECK(FashionMNIST(dir.path.string()).size() == 2);
  CHECK_THROWS_AS(FashionMNIST(dir.path.string(), false), tg::IoError);
  CHECK_THROWS_WITH(FashionMNIST(dir.path.string(), false),
                    Contains(dir.file("t10k-labels-idx1-ubyte.gz")) && Contains("cannot open"));
}

TEST_CASE("FashionMNIST reports files that do not belong together", "[data][fashion_mnist]") {
  TempDir dir("fmnist_mismatch");
  tg::test::write_fashion_mnist(dir, 4, 1);
  std::string images = dir.file("train-images-idx3-ubyte.gz");
  std::string labels = dir.file("train-labels-idx1-ubyte.gz");

  tg::test::write_gzip(labels, tg::test::idx_labels({0, 1, 2}));
  CHECK_THROWS_AS(FashionMNIST(dir.path.string()), tg::IoError);
  CHECK_THROWS_WITH(FashionMNIST(dir.path.string()),
                    Contains(images) && Contains("4 images") && Contains(labels) && Contains("3 labels"));

  tg::test::write_gzip(labels, tg::test::idx_labels({0, 1, 10, 2}));
  CHECK_THROWS_WITH(FashionMNIST(dir.path.string()),
                    Contains(labels) && Contains("label 10 at index 2") && Contains("[0, 10)"));

  tg::test::write_gzip(labels, tg::test::idx_labels({0, 1, 2, 3}));
  tg::test::write_gzip(images, tg::test::idx_images(4, 32, 32));
  CHECK_THROWS_WITH(FashionMNIST(dir.path.string()), Contains(images) && Contains("32 x 32") && Contains("28 x 28"));
}

// Debian's dataset-fashion-mnist, which scripts/setup.sh installs (so CI runs this). Without
// the package it is reported as skipped.
TEST_CASE("FashionMNIST reads Debian's dataset-fashion-mnist", "[data][fashion_mnist]") {
  std::string root(FashionMNIST::kDebianRoot);
  if (!std::filesystem::is_directory(root)) {
    TG_SKIP(root << " is absent; apt-get install dataset-fashion-mnist (scripts/setup.sh does) to run it");
    return;
  }
  FashionMNIST train(root, true);
  FashionMNIST test(root, false);
  REQUIRE(train.size() == 60000);
  REQUIRE(test.size() == 10000);
  // The first labels of the published files (ankle boot, T-shirt, T-shirt, dress, ...).
  CHECK(train.labels(0, 6).tolist() == std::vector<double>{9, 0, 0, 3, 0, 2});
  CHECK(test.labels(0, 5).tolist() == std::vector<double>{9, 2, 1, 1, 6});
  // Each class holds exactly a tenth of each set.
  for (const FashionMNIST* set : {&train, &test}) {
    std::array<std::int64_t, 10> counts{};
    for (std::uint8_t y : set->label_bytes()) ++counts[y];
    for (std::int64_t c : counts) CHECK(c == set->size() / 10);
  }
  // The training pixels' mean, the 0.2860 used to normalise Fashion-MNIST.
  const auto& bytes = train.image_bytes();
  double mean = std::accumulate(bytes.begin(), bytes.end(), 0.0) / 255.0 / static_cast<double>(bytes.size());
  CHECK(mean == Approx(0.2860).margin(1e-4));
}
