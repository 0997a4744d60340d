// SPDX-License-Identifier: MIT
#pragma once
// im2col and col2im for conv2d (ops/conv2d.cpp), over a block of output rows of the batch.
//
// An output row is r = n OH + i (image n, output row i); a block is the rows [r0, r1), and its
// cols matrix is [C kh kw, (r1 - r0) OW], row-major:
//   cols[(c, a, b), (r - r0) OW + j] = Xp[n, c, sh i + a, sw j + b]
//                                    = x[n, c, sh i + a - ph, sw j + b - pw]   (0 on the padding)
// so one matrix product covers every image (or part of an image) in the block.
//
// Note: why blocks of rows and not one image at a time. LeNet's conv2 has 100 output pixels per
// image: a product per image is a [16, 150] x [150, 100] GEMM, too small for Eigen to reach its
// speed. A block of several images gives [150, 1600] and more. A large image (56 x 56 x 64) is
// cut into blocks of rows instead, so that cols stays in the L2 cache between im2col writing it
// and the GEMM reading it.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

namespace tg::conv {

// The sizes of one conv2d, checked once by geometry() in conv2d.cpp.
struct Geometry {
  std::int64_t N, C, H, W, O, kh, kw, sh, sw, ph, pw, OH, OW;
  std::int64_t patch() const { return C * kh * kw; }  // rows of cols
  std::int64_t pixels() const { return OH * OW; }     // output pixels of one image
  std::int64_t image() const { return C * H * W; }    // elements of x[n]
  std::int64_t rows() const { return N * OH; }        // output rows of the batch
};

// Along one axis (rows or columns): output positions k in [0, count) read the input at
// stride k + offset. In = the positions k in [lo, hi) where that lies in [0, size); the others
// fall on the padding.
struct Span {
  std::int64_t lo, hi;
};

inline Span inside(std::int64_t offset, std::int64_t size, std::int64_t stride, std::int64_t count) {
  std::int64_t lo = std::min(count, offset >= 0 ? 0 : (-offset + stride - 1) / stride);
  std::int64_t hi = std::max(lo, offset >= size ? 0 : std::min(count, (size - 1 - offset) / stride + 1));
  return {lo, hi};
}

// Calls f(n, p0, p1, column) for each image n that the rows [r0, r1) touch: its output pixels
// [p0, p1) sit at columns [column, column + p1 - p0) of the block.
template <class F>
void for_each_image(const Geometry& g, std::int64_t r0, std::int64_t r1, F f) {
  for (std::int64_t r = r0; r < r1;) {
    std::int64_t n = r / g.OH, end = std::min(r1, (n + 1) * g.OH);
    f(n, (r - n * g.OH) * g.OW, (end - n * g.OH) * g.OW, (r - r0) * g.OW);
    r = end;
  }
}

// Note: rows of cols are short (10 to 60 values in LeNet). GCC turns a plain copy or fill loop
// into a call to memcpy or memset, whose call overhead then dominates, so rows are moved in
// 32-byte chunks (one vector instruction each). The last chunk of a run is clamped to end where
// the run ends, overlapping its predecessor: that keeps whole vectors and, as the addresses are
// no longer a plain progression, stops GCC from turning the loop back into a library call.
template <class T>
inline constexpr std::int64_t kChunk = 32 / static_cast<std::int64_t>(sizeof(T));

// row[j] = src[sw (j - j0)] for j in [j0, j1), and row[j] = 0 on the padding outside.
template <class T>
inline void gather_row(const T* __restrict src, T* __restrict row, std::int64_t OW, std::int64_t j0, std::int64_t j1,
                       std::int64_t sw) {
  constexpr std::int64_t V = kChunk<T>;
  if (sw == 1 && j1 - j0 >= V) {
    const T zero[V] = {};
    // Zeros first, over whole chunks: the copy below overwrites the part that is not padding.
    for (std::int64_t j = 0; j < j0; j += V) std::memcpy(row + std::min(j, OW - V), zero, sizeof zero);
    for (std::int64_t j = j1; j < OW; j += V) std::memcpy(row + std::min(j, OW - V), zero, sizeof zero);
    for (std::int64_t j = 0, n = j1 - j0; j < n; j += V) {
      std::int64_t at = std::min(j, n - V);
      std::memcpy(row + j0 + at, src + at, sizeof zero);
    }
    return;
  }
  for (std::int64_t j = 0; j < j0; ++j) row[j] = T(0);
  for (std::int64_t j = j0; j < j1; ++j) row[j] = src[sw * (j - j0)];
  for (std::int64_t j = j1; j < OW; ++j) row[j] = T(0);
}

// dst[sw j] += row[j] for j in [0, n)
template <class T>
inline void scatter_add_row(const T* __restrict row, T* __restrict dst, std::int64_t n, std::int64_t sw) {
  constexpr std::int64_t V = kChunk<T>;
  std::int64_t j = 0;
  if (sw == 1)
    for (; j + V <= n; j += V)
      for (std::int64_t v = 0; v < V; ++v) dst[j + v] += row[j + v];
  for (; j < n; ++j) dst[sw * j] += row[j];
}

// Calls f(cols_row, at, j0, j1) for each run of the block's cols, cols row (c, a, b) and
// output row (n, i), that reads x: cols_row[j] pairs with x[at + sw j] for j in [j0, j1).
// Runs on the padding rows are not visited: pad(row, count) is called for them instead, with
// count consecutive elements of cols.
// Note: the loops run over images outside, then (c, a, b), then output rows, so the plane
// x[n, c] stays in L1 while its kh kw cols rows are written, and the padding decisions are made
// once per (n, c, a, b).
template <class T, class F, class P>
void for_each_run(const Geometry& g, std::int64_t r0, std::int64_t r1, T* cols, F f, P pad) {
  const std::int64_t OW = g.OW, m = (r1 - r0) * OW;
  for_each_image(g, r0, r1, [&](std::int64_t n, std::int64_t p0, std::int64_t p1, std::int64_t column) {
    const std::int64_t i_begin = p0 / OW, i_end = p1 / OW;
    T* out = cols + column - i_begin * OW;  // out + i OW: output row i of image n, in cols row 0
    for (std::int64_t c = 0; c < g.C; ++c)
      for (std::int64_t a = 0; a < g.kh; ++a) {
        auto [lo, hi] = inside(a - g.ph, g.H, g.sh, g.OH);
        lo = std::clamp(lo, i_begin, i_end);
        hi = std::clamp(hi, lo, i_end);
        for (std::int64_t b = 0; b < g.kw; ++b, out += m) {
          auto [j0, j1] = inside(b - g.pw, g.W, g.sw, OW);
          std::int64_t at = ((n * g.C + c) * g.H + a - g.ph) * g.W + b - g.pw;  // + sh i W: output row i's
          pad(out + i_begin * OW, (lo - i_begin) * OW);
          for (std::int64_t i = lo; i < hi; ++i) f(out + i * OW, at + g.sh * i * g.W, j0, j1);
          pad(out + hi * OW, (i_end - hi) * OW);
        }
      }
  });
}

// Note [narrow outputs]: with outputs narrower than a vector (ResNet-18's late stages at
// 28x28 are 7, 4, 2 and 1 wide) or a stride, each run above is a few scalar copies wrapped in
// a run's bookkeeping. There a table gives, for each tap (a, b) and output pixel p of an image,
// the offset in the input plane that p reads (or -1 on the padding), built once per call; a
// whole image's pixels of one cols row are then one loop over the table.
struct TapTable {
  std::vector<std::int32_t> offsets;  // [kh kw, OH OW]
  bool empty() const { return offsets.empty(); }
};

// The table where it pays (outputs narrower than 8, or strided), and no larger than 1 MB.
inline TapTable tap_table(const Geometry& g) {
  TapTable t;
  const std::int64_t size = g.kh * g.kw * g.pixels();
  if ((g.OW >= 8 && g.sw == 1) || size > (std::int64_t{1} << 18) || g.H * g.W > INT32_MAX) return t;
  t.offsets.resize(static_cast<std::size_t>(size));
  std::int32_t* at = t.offsets.data();
  for (std::int64_t a = 0; a < g.kh; ++a)
    for (std::int64_t b = 0; b < g.kw; ++b)
      for (std::int64_t i = 0; i < g.OH; ++i)
        for (std::int64_t j = 0; j < g.OW; ++j) {
          std::int64_t h = g.sh * i + a - g.ph, w = g.sw * j + b - g.pw;
          *at++ = h >= 0 && h < g.H && w >= 0 && w < g.W ? static_cast<std::int32_t>(h * g.W + w) : -1;
        }
  return t;
}

// Calls f(cols_row, plane, offsets, count) for each cols row (c, a, b) and each image n of the
// block: cols_row[q] pairs with plane[offsets[q]] (none where offsets[q] < 0) for q < count.
template <class T, class X, class F>
void for_each_table_row(const Geometry& g, const TapTable& table, std::int64_t r0, std::int64_t r1, T* cols, X* x,
                        F f) {
  const std::int64_t m = (r1 - r0) * g.OW, P = g.pixels();
  for_each_image(g, r0, r1, [&](std::int64_t n, std::int64_t p0, std::int64_t p1, std::int64_t column) {
    for (std::int64_t c = 0; c < g.C; ++c) {
      X* plane = x + (n * g.C + c) * g.H * g.W;
      for (std::int64_t ab = 0; ab < g.kh * g.kw; ++ab)
        f(cols + (c * g.kh * g.kw + ab) * m + column, plane, table.offsets.data() + ab * P + p0, p1 - p0);
    }
  });
}

// cols = the block's windows of x (the whole batch [N, C, H, W]); only the entries on the
// padding are zeroed, never the whole buffer.
template <class T>
void im2col(const T* x, const Geometry& g, std::int64_t r0, std::int64_t r1, T* cols, const TapTable& table = {}) {
  if (!table.empty())
    return for_each_table_row(g, table, r0, r1, cols, x,
                              [](T* row, const T* plane, const std::int32_t* offsets, std::int64_t count) {
                                for (std::int64_t q = 0; q < count; ++q)
                                  row[q] = offsets[q] >= 0 ? plane[offsets[q]] : T(0);
                              });
  for_each_run(
      g, r0, r1, cols,
      [&](T* row, std::int64_t at, std::int64_t j0, std::int64_t j1) {
        gather_row(x + (at + g.sw * j0), row, g.OW, j0, j1, g.sw);
      },
      [](T* row, std::int64_t count) { std::fill(row, row + count, T(0)); });
}

// dx += each entry of dcols (shaped as the block's cols), at the x element im2col copied it
// from; entries on the padding are dropped.
template <class T>
void col2im(const T* dcols, const Geometry& g, std::int64_t r0, std::int64_t r1, T* dx, const TapTable& table = {}) {
  if (!table.empty())
    return for_each_table_row(g, table, r0, r1, dcols, dx,
                              [](const T* row, T* plane, const std::int32_t* offsets, std::int64_t count) {
                                for (std::int64_t q = 0; q < count; ++q)
                                  if (offsets[q] >= 0) plane[offsets[q]] += row[q];
                              });
  for_each_run(
      g, r0, r1, dcols,
      [&](const T* row, std::int64_t at, std::int64_t j0, std::int64_t j1) {
        scatter_add_row(row + j0, dx + (at + g.sw * j0), j1 - j0, g.sw);
      },
      [](const T*, std::int64_t) {});
}

// The im2col + GEMM drivers (ops/conv2d_gemm.cpp), for T = float and double. Buffers are
// contiguous row-major: x [N, C, H, W], w [O, C, kh, kw], bias [O], y and dy [N, O, OH, OW].
//   forward:  y = conv2d(x, w) + bias          (bias may be null)
//   backward: dx = conv2d_backward_input, dw = conv2d_backward_weight, db = dy summed over
//             n, i, j; each output may be null (not needed), and is overwritten, not added to.
template <class T>
void forward(const Geometry& g, const T* x, const T* w, const T* bias, T* y);
template <class T>
void backward(const Geometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db);

}  // namespace tg::conv
