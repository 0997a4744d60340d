// SPDX-License-Identifier: MIT
// matmul (ops/matmul.cpp): 2-D, batched, broadcast batch dims and 1-D vector operands.
#include "framework/ops/op_test_util.hpp"

using tg::Shape;
using tg::Tensor;
using tg::test::allclose;
using tg::test::MessageContains;

namespace {

// C = A B for 2-D float64 tensors, by the triple loop of the definition.
Tensor naive_matmul(const Tensor& A, const Tensor& B) {
  std::int64_t n = A.size(0), k = A.size(1), m = B.size(1);
  Tensor C = tg::zeros({n, m}, {.dtype = tg::kFloat64});
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < m; ++j)
      for (std::int64_t p = 0; p < k; ++p) C.at<double>({i, j}) += A.at<double>({i, p}) * B.at<double>({p, j});
  return C;
}

// Operand shapes that torch.matmul accepts, with random sizes n, k, m and batch b.
std::vector<std::pair<Shape, Shape>> matmul_shapes(tg::Generator& gen) {
  std::vector<std::pair<Shape, Shape>> shapes;
  for (int i = 0; i < 3; ++i) {
    auto n = tg::test::random_int(gen, 1, 4), k = tg::test::random_int(gen, 1, 4), m = tg::test::random_int(gen, 1, 4);
    auto b = tg::test::random_int(gen, 2, 3), c = tg::test::random_int(gen, 2, 3);
    shapes.push_back({{n, k}, {k, m}});           // 2-D
    shapes.push_back({{b, n, k}, {b, k, m}});     // batched
    shapes.push_back({{b, n, k}, {k, m}});        // batch on the left only
    shapes.push_back({{n, k}, {b, k, m}});        // batch on the right only
    shapes.push_back({{b, 1, n, k}, {c, k, m}});  // batch dims broadcast both ways
    shapes.push_back({{1, n, k}, {b, k, m}});
    shapes.push_back({{k}, {k}});        // dot product
    shapes.push_back({{k}, {k, m}});     // row vector times matrix
    shapes.push_back({{n, k}, {k}});     // matrix times column vector
    shapes.push_back({{k}, {b, k, m}});  // vector times a batch
    shapes.push_back({{b, n, k}, {k}});  // a batch times a vector
  }
  return shapes;
}

}  // namespace

TEST_CASE("matmul passes gradcheck for 2-D, batched, broadcast and vector operands", "[ops][matmul][gradcheck]") {
  tg::Generator gen(51);
  for (const auto& [sa, sb] : matmul_shapes(gen)) {
    INFO(sa.str() << " @ " << sb.str());
    Tensor a = tg::test::uniform(sa, gen, -2, 2), b = tg::test::uniform(sb, gen, -2, 2);
    auto result = tg::gradcheck([](const std::vector<Tensor>& v) { return tg::matmul(v[0], v[1]); }, {a, b});
    INFO(result.message);
    REQUIRE(result.ok);
    // Also with only one operand requiring grad.
    result = tg::gradcheck([](const std::vector<Tensor>& v) { return tg::matmul(v[0], v[1]); },
                           {a, b.detach().requires_grad_()});
    INFO(result.message);
    REQUIRE(result.ok);
  }
}

TEST_CASE("matmul's result shapes follow torch.matmul", "[ops][matmul]") {
  auto shape_of = [](const Shape& a, const Shape& b) { return tg::matmul(tg::ones(a), tg::ones(b)).shape(); };
  CHECK(shape_of({2, 3}, {3, 4}) == Shape{2, 4});
  CHECK(shape_of({5, 2, 3}, {5, 3, 4}) == Shape{5, 2, 4});
  CHECK(shape_of({5, 2, 3}, {3, 4}) == Shape{5, 2, 4});
  CHECK(shape_of({2, 3}, {5, 3, 4}) == Shape{5, 2, 4});
  CHECK(shape_of({6, 1, 2, 3}, {5, 3, 4}) == Shape{6, 5, 2, 4});
  CHECK(shape_of({3}, {3}) == Shape{});
  CHECK(shape_of({3}, {3, 4}) == Shape{4});
  CHECK(shape_of({2, 3}, {3}) == Shape{2});
  CHECK(shape_of({3}, {5, 3, 4}) == Shape{5, 4});
  CHECK(shape_of({5, 2, 3}, {3}) == Shape{5, 2});
  CHECK(shape_of({2, 0}, {0, 4}) == Shape{2, 4});
  CHECK(allclose(tg::matmul(tg::ones({2, 0}), tg::ones({0, 4})), tg::zeros({2, 4}), 0, 0));
}

TEST_CASE("matmul's values and gradients match the hand formulas", "[ops][matmul]") {
  Tensor A = Tensor{{1, 2}, {3, 4}}.requires_grad_();
  Tensor B = Tensor{{5, 6}, {7, 8}}.requires_grad_();
  Tensor C = tg::matmul(A, B);
  CHECK(allclose(C, Tensor{{19, 22}, {43, 50}}, 0, 0));
  C.sum().backward();
  // dA = dC B^T with dC = ones: each row is the row sums of B; dB = A^T dC: the column sums of A.
  CHECK(allclose(A.grad(), Tensor{{11, 15}, {11, 15}}, 0, 0));
  CHECK(allclose(B.grad(), Tensor{{4, 4}, {6, 6}}, 0, 0));

  // The dot product of two vectors: the gradient of each is the other.
  Tensor u = Tensor{1, 2, 3}.requires_grad_(), v = Tensor{4, 5, 6}.requires_grad_();
  Tensor dot = tg::matmul(u, v);
  REQUIRE(dot.shape() == Shape{});
  CHECK(dot.item() == 32);
  dot.backward();
  CHECK(allclose(u.grad(), Tensor{4, 5, 6}, 0, 0));
  CHECK(allclose(v.grad(), Tensor{1, 2, 3}, 0, 0));
}

TEST_CASE("matmul's forward and backward equal the triple loop on random matrices", "[ops][matmul]") {
  tg::Generator gen(52);
  for (int i = 0; i < 5; ++i) {
    auto n = tg::test::random_int(gen, 1, 6), k = tg::test::random_int(gen, 1, 6), m = tg::test::random_int(gen, 1, 6);
    INFO("n " << n << " k " << k << " m " << m);
    Tensor A = tg::test::uniform({n, k}, gen, -1, 1).requires_grad_();
    Tensor B = tg::test::uniform({k, m}, gen, -1, 1).requires_grad_();
    Tensor dC = tg::test::uniform({n, m}, gen, -1, 1);
    Tensor C = tg::matmul(A, B);
    CHECK(allclose(C, naive_matmul(A.detach(), B.detach()), 1e-12, 1e-14));
    C.backward(dC);
    CHECK(allclose(A.grad(), naive_matmul(dC, B.detach().t()), 1e-12, 1e-14));  // dA = dC B^T
    CHECK(allclose(B.grad(), naive_matmul(A.detach().t(), dC), 1e-12, 1e-14));  // dB = A^T dC
  }
}

TEST_CASE("batched matmul multiplies matrix by matrix and sums gradients over broadcast batches", "[ops][matmul]") {
  tg::Generator gen(53);
  Tensor A = tg::test::uniform({2, 1, 3, 4}, gen, -1, 1).requires_grad_();  // [2, 1, n, k]
  Tensor B = tg::test::uniform({5, 4, 2}, gen, -1, 1).requires_grad_();     // [5, k, m]
  Tensor dC = tg::test::uniform({2, 5, 3, 2}, gen, -1, 1);
  Tensor C = tg::matmul(A, B);
  REQUIRE(C.shape() == Shape{2, 5, 3, 2});
  C.backward(dC);

  // Matrix `index` of a batch of rows x cols matrices, as a 2-D float64 tensor.
  auto matrix = [](const Tensor& t, std::int64_t index, std::int64_t rows, std::int64_t cols) {
    std::vector<double> all = t.tolist();
    auto start = all.begin() + index * rows * cols;
    return tg::from_vector({start, start + rows * cols}, {rows, cols}, {.dtype = tg::kFloat64});
  };
  // m added into matrix `index` of the batch `values`.
  auto add_into = [](std::vector<double>& values, std::int64_t index, const Tensor& m) {
    std::vector<double> add = m.tolist();
    for (std::size_t e = 0; e < add.size(); ++e) values[static_cast<std::size_t>(index) * add.size() + e] += add[e];
  };
  std::vector<double> dA(2 * 3 * 4, 0.0), dB(5 * 4 * 2, 0.0);
  for (std::int64_t i = 0; i < 2; ++i) {
    for (std::int64_t j = 0; j < 5; ++j) {
      INFO("batch " << i << ", " << j);
      Tensor a = matrix(A.detach(), i, 3, 4), b = matrix(B.detach(), j, 4, 2), dc = matrix(dC, i * 5 + j, 3, 2);
      CHECK(allclose(matrix(C, i * 5 + j, 3, 2), naive_matmul(a, b), 1e-12, 1e-14));
      add_into(dA, i, naive_matmul(dc, b.t()));  // A's batch element i meets every j
      add_into(dB, j, naive_matmul(a.t(), dc));  // B's batch element j meets every i
    }
  }
  CHECK(allclose(A.grad(), tg::from_vector(dA, {2, 1, 3, 4}, {.dtype = tg::kFloat64}), 1e-12, 1e-14));
  CHECK(allclose(B.grad(), tg::from_vector(dB, {5, 4, 2}, {.dtype = tg::kFloat64}), 1e-12, 1e-14));
}

TEST_CASE("matmul promotes mixed dtypes and returns each gradient in its input's dtype", "[ops][matmul][dtype]") {
  Tensor a = tg::ones({2, 3}, {.requires_grad = true});
  Tensor b = tg::ones({3, 2}, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor c = tg::matmul(a, b);
  REQUIRE(c.dtype() == tg::kFloat64);
  CHECK(allclose(c, tg::full({2, 2}, 3), 0, 0));
  c.sum().backward();
  CHECK(a.grad().dtype() == tg::kFloat32);
  CHECK(b.grad().dtype() == tg::kFloat64);
  CHECK(allclose(a.grad(), tg::full({2, 3}, 2), 0, 0));
  CHECK(allclose(b.grad(), tg::full({3, 2}, 2), 0, 0));
  CHECK(tg::matmul(tg::ones({3}, {.dtype = tg::kFloat64}), tg::ones({3, 2})).dtype() == tg::kFloat64);
  CHECK(tg::matmul(tg::ones({2, 3}), tg::ones({3, 2})).dtype() == tg::kFloat32);
}

TEST_CASE("matmul records only when needed and sends gradients only where required", "[ops][matmul][tape]") {
  tg::Tape& tape = tg::Tape::current();
  tape.clear();
  Tensor a = tg::ones({2, 3}), b = tg::ones({3, 4});
  CHECK_FALSE(tg::matmul(a, b).requires_grad());
  CHECK_FALSE(tg::matmul(tg::ones({3}), b).requires_grad());
  CHECK(tape.size() == 0);
  b.requires_grad_();
  {
    tg::NoGradGuard no_grad;
    CHECK_FALSE(tg::matmul(a, b).requires_grad());
    CHECK_FALSE(tg::matmul(tg::ones({3}), b).requires_grad());
    CHECK(tape.size() == 0);
  }
  Tensor c = tg::matmul(a, b);
  REQUIRE(tape.size() == 1);
  CHECK(tg::test::op_name() == "matmul");
  c.sum().backward();
  CHECK_FALSE(a.grad().defined());
  REQUIRE(b.grad().defined());
  CHECK(allclose(b.grad(), tg::full({3, 4}, 2), 0, 0));
  tape.clear();
}

TEST_CASE("matmul rejects operands that cannot be multiplied, naming both shapes", "[ops][matmul][errors]") {
  CHECK_THROWS_MATCHES(tg::matmul(tg::ones({2, 3}), tg::ones({4, 5})), tg::ShapeError,
                       MessageContains({"matmul", "[2, 3]", "[4, 5]"}));
  CHECK_THROWS_MATCHES(tg::matmul(tg::ones({6, 2, 3}), tg::ones({6, 4, 5})), tg::ShapeError,
                       MessageContains({"matmul", "[6, 2, 3]", "[6, 4, 5]"}));
  CHECK_THROWS_MATCHES(tg::matmul(tg::ones({2, 2, 3}), tg::ones({5, 3, 4})), tg::ShapeError,
                       MessageContains({"matmul", "[2, 2, 3]", "[5, 3, 4]"}));
  CHECK_THROWS_MATCHES(tg::matmul(tg::scalar(2), tg::ones({2, 3})), tg::ShapeError,
                       MessageContains({"matmul", "[]", "[2, 3]"}));
  CHECK_THROWS_MATCHES(tg::matmul(tg::ones({3}), tg::scalar(2)), tg::ShapeError,
                       MessageContains({"matmul", "[3]", "[]"}));
  // Vector operands are named as the caller gave them, not as the row or column they become.
  CHECK_THROWS_MATCHES(tg::matmul(tg::ones({3}), tg::ones({4, 5})), tg::ShapeError,
                       MessageContains({"matmul", "[3]", "[4, 5]"}));
  CHECK_THROWS_MATCHES(tg::matmul(tg::ones({2, 3}), tg::ones({4})), tg::ShapeError,
                       MessageContains({"matmul", "[2, 3]", "[4]"}));
  CHECK_THROWS_MATCHES(tg::matmul(tg::ones({3}), tg::ones({4})), tg::ShapeError,
                       MessageContains({"matmul", "[3]", "[4]"}));
}

TEST_CASE("the Hessian of x^T A x through matmul's recorded backward is A + A^T", "[ops][matmul][higher_order]") {
  Tensor A = tg::from_vector(std::vector<double>{1, 2, -1, 0.5, 3, 4, -2, 0, 5}, {3, 3}, {.dtype = tg::kFloat64});
  Tensor x = tg::from_vector(std::vector<double>{1, -2, 0.5}, {3}, {.dtype = tg::kFloat64, .requires_grad = true});
  Tensor g = tg::grad({tg::matmul(tg::matmul(x, A), x)}, {x}, {.create_graph = true})[0];  // (A + A^T) x
  Tensor sym = A + tg::transpose(A, 0, 1);
  CHECK(allclose(g.detach(), tg::matmul(sym, x.detach()), 1e-12, 0));
  // Row i of the Hessian: the gradient of g_i.
  for (std::int64_t i = 0; i < 3; ++i) {
    Tensor row = tg::grad({tg::select(g, 0, i)}, {x}, {.retain_graph = true})[0];
    CHECK(allclose(row, tg::select(sym, 0, i), 1e-12, 0));
  }
  // Batched and broadcast operands: the second derivatives in both operands and the seed.
  auto f = [](const std::vector<Tensor>& v) { return tg::matmul(v[0], v[1]); };
  tg::Generator gen(31);
  CHECK(tg::gradgradcheck(
            f, {tg::randn({2, 3, 4}, gen, {.dtype = tg::kFloat64}), tg::randn({4, 2}, gen, {.dtype = tg::kFloat64})})
            .ok);
}
