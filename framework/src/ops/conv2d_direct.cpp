// SPDX-License-Identifier: MIT
// conv2d's direct path: the sums at the top of ops/conv2d.cpp computed straight from x, W and
// dY with AVX-512 register tiles, float32 and stride 1 only, with no im2col matrix.
//
// Note: why a second path. For LeNet's conv2 (16 output channels, C kh kw = 150 products per
// output, 10 x 10 outputs) im2col and col2im move more bytes than the arithmetic needs, and
// Eigen's GEMM kernel, built for 48-row panels, runs its [16, 150] products at about two thirds
// of its speed on large ones. Here a 16-lane vector holds 16 output channels (O is padded with
// zero weights up to a multiple of 16), so every multiply-add does useful work and the input is
// read where it lies.
//
// Layouts (per image; o16 = a block of 16 output channels, k = (c, a, b) flattened):
//   Xp        the input with its zero padding, [C, Hp, Wp] (x itself when there is none)
//   Wt        the weight by blocks, Wt[ob, k, o16] = W[16 ob + o16, k]          (forward)
//   Yt, dYt   output pixels by rows, Yt[ob, p, o16] = Y[16 ob + o16, p]           (p = i OW + j)
//   Wc        the weight for dx, Wc[o, a, b, c] = W[o, c, a, b]
//   dYr       each row of dY with kw - 1 zeros on its left and at least 16 on its right
//
// The three sums, each an accumulation in registers:
//   forward  Yt[ob, (i, j + q)] = sum_{c, a, b} Wt[ob, (c, a, b)] Xp[c, i + a, j + b + q]
//            a tile is R <= 16 neighbouring outputs of one row: R accumulators, one weight
//            vector loaded per (c, a, b), one broadcast input per multiply-add.
//   dW       dWt[ob, k] = sum_{n, i, j} dYt[ob, (i, j)] Xp[c, i + a, j + b]
//            a tile is G consecutive k: G accumulators, one dY vector loaded per pixel.
//   dx       dXp[c, u, v + l] = sum_{o, a, b} W[o, c, a, b] dY[o, u - a, v + l - b]   (l < 16)
//            a tile is up to 16 channels of one 16-wide piece of an input row; the vector of
//            dY values, a shifted piece of a dYr row, is loaded once for all of them.
//            Lanes that fall past the row are computed on zeros and not stored.
//
// Compiled with -march=x86-64-v4 in a build for any x86-64; `Eigen` is renamed for this unit
// (its scratch buffers use Eigen's aligned allocator) as in isa/gemm_kernel.hpp, so that no
// AVX-512 instantiation can stand in for the baseline units' copies.
#define Eigen tg_eigen_avx512
#include "ops/conv2d_direct.hpp"

#if TAPEGRAD_CONV2D_DIRECT

#if !defined(__AVX512F__)
#error "ops/conv2d_direct.cpp needs -march=x86-64-v4 (framework/CMakeLists.txt sets it)"
#endif

#include "eigen_core.hpp"  // with the intrinsics, without GCC 12's false warnings in them

#include <algorithm>
#include <array>
#include <utility>

#include "ops/conv2d_threads.hpp"

namespace tg::conv {

namespace {

constexpr std::int64_t L = 16;  // floats in an AVX-512 register

constexpr std::int64_t blocks_of_16(std::int64_t n) { return (n + L - 1) / L; }

// dst[0, n) = src[0, n), 16 floats per instruction (a plain loop of 10 to 30 floats becomes a
// memmove call that costs more than the copy).
void copy_row(const float* __restrict src, std::int64_t n, float* __restrict dst) {
  for (std::int64_t j = 0; j < n; j += L) {
    auto m = static_cast<__mmask16>((1u << std::min(L, n - j)) - 1u);
    _mm512_mask_storeu_ps(dst + j, m, _mm512_maskz_loadu_ps(m, src + j));
  }
}

// out[c out_stride + r] = in[r in_stride + c] for r < rows <= 16 and c < cols <= 16: a block of
// up to 16 x 16 transposed in registers (three rounds of shuffles), instead of 256 scalar moves.
void transpose_block(const float* __restrict in, std::int64_t in_stride, std::int64_t rows, std::int64_t cols,
                     float* __restrict out, std::int64_t out_stride) {
  const auto col_mask = static_cast<__mmask16>((1u << cols) - 1u), row_mask = static_cast<__mmask16>((1u << rows) - 1u);
  __m512 r[L], t[L];
  for (int i = 0; i < L; ++i)
    r[i] = i < rows ? _mm512_maskz_loadu_ps(col_mask, in + i * in_stride) : _mm512_setzero_ps();
  for (int i = 0; i < L; i += 2) {  // interleave pairs of rows, element by element
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < L; i += 4) {  // then pairs of elements
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < L; i += 8)  // then 128-bit quarters, twice
    for (int j = 0; j < 4; ++j) {
      t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
      t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xDD);
    }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
    r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xDD);
  }
  for (std::int64_t c = 0; c < cols; ++c) _mm512_mask_storeu_ps(out + c * out_stride, row_mask, r[c]);
}

// The sizes of the padded input.
struct Padded {
  std::int64_t Hp, Wp;
  explicit Padded(const Geometry& g) : Hp(g.H + 2 * g.ph), Wp(g.W + 2 * g.pw) {}
  std::int64_t plane() const { return Hp * Wp; }
};

// Xp[c] = x[n, c] with its zero border; returns x[n] itself when there is no padding. xp is
// zero at first, and only the inside is written, so the border stays zero from image to image.
const float* padded_image(const Geometry& g, const Padded& p, const float* x, std::int64_t n, float* xp) {
  const float* image = x + n * g.image();
  if (g.ph == 0 && g.pw == 0) return image;
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t h = 0; h < g.H; ++h)
      copy_row(image + (c * g.H + h) * g.W, g.W, xp + (c * p.Hp + h + g.ph) * p.Wp + g.pw);
  return xp;
}

// ---- forward -------------------------------------------------------------------------------

// out[q, o16] = bias[o16] + sum_{c, a, b} wt[(c, a, b), o16] xp[c, a, b + q] for q < R, with
// xp at the tile's first input (row i, column j of Xp[0]).
template <int R>
void forward_tile(const Geometry& g, const Padded& p, const float* __restrict xp, const float* __restrict wt,
                  const float* __restrict bias, float* __restrict out) {
  __m512 acc[R];
#pragma GCC unroll 16
  for (int q = 0; q < R; ++q) acc[q] = _mm512_load_ps(bias);
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t a = 0; a < g.kh; ++a) {
      const float* row = xp + c * p.plane() + a * p.Wp;
      for (std::int64_t b = 0; b < g.kw; ++b, wt += L) {
        const __m512 w = _mm512_load_ps(wt);
#pragma GCC unroll 16
        for (int q = 0; q < R; ++q) acc[q] = _mm512_fmadd_ps(_mm512_set1_ps(row[b + q]), w, acc[q]);
      }
    }
#pragma GCC unroll 16
  for (int q = 0; q < R; ++q) _mm512_store_ps(out + q * L, acc[q]);
}

// forward_tile<1>, ..., forward_tile<16>, so that a tile's width picks its compiled kernel.
using ForwardTile = void (*)(const Geometry&, const Padded&, const float*, const float*, const float*, float*);
template <int... R>
constexpr std::array<ForwardTile, sizeof...(R)> forward_tiles(std::integer_sequence<int, R...>) {
  return {&forward_tile<R + 1>...};
}
constexpr auto kForwardTiles = forward_tiles(std::make_integer_sequence<int, L>{});

// Per-thread and per-chunk scratch from the buffer cache (Note [cached scratch] in
// ops/conv2d_gemm.cpp), zeroed: the padded images keep zero borders, the sums start at 0. In
// this namespace, so that vectors of it are instantiated here only.
struct Scratch {
  CachedBlock block;
  Scratch() = default;
  explicit Scratch(std::int64_t size) : block(static_cast<std::size_t>(size) * sizeof(float), true) {}
  float* data() const { return static_cast<float*>(block.data()); }
};

std::vector<Scratch> scratches(std::size_t count, std::int64_t size) {
  std::vector<Scratch> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) out.emplace_back(size);
  return out;
}

// Wt[ob, k, o16] = w[16 ob + o16, k], zero for the channels past O.
Buffer<float> blocked_weight(const Geometry& g, const float* w) {
  const std::int64_t K = g.patch();
  Buffer<float> wt = scratch<float>(blocks_of_16(g.O) * K * L);
  for (std::int64_t o = 0; o < g.O; ++o)
    for (std::int64_t k = 0; k < K; ++k) wt[static_cast<std::size_t>(((o / L) * K + k) * L + o % L)] = w[o * K + k];
  return wt;
}

// Note: few output channels. With O < 16 most lanes of a channel tile compute on zero weights
// (LeNet's conv1 has 6 channels: 6 of 16 lanes). Row tiles put 16 neighbouring outputs of one
// row in a vector instead, and hold up to 15 channels in separate registers. rows_win() picks
// the layout whose lanes do more useful work: a row of OW outputs fills OW / (16 ceil(OW / 16))
// of its lanes, a block of O channels O / (16 ceil(O / 16)).
bool rows_win(const Geometry& g) {
  auto filled = [](std::int64_t n) { return static_cast<double>(n) / static_cast<double>(L * blocks_of_16(n)); };
  return g.O < L && filled(g.OW) > filled(g.O);
}

// y[og, 0, l] = bias[og] + sum_{c, a, b} wr[(c, a, b), og] xp[c, a, b + l] for og < OG and the
// lanes l in `keep`; xp is at the tile's first input, y at y[n, o0, i, j], wr = Wr[0, o0] with
// Wr[k, o] = w[o, k].
template <int OG>
void forward_row_tile(const Geometry& g, const Padded& p, const float* __restrict xp, const float* __restrict wr,
                      const float* __restrict bias, __mmask16 keep, float* __restrict y) {
  __m512 acc[OG];
#pragma GCC unroll 16
  for (int og = 0; og < OG; ++og) acc[og] = _mm512_set1_ps(bias[og]);
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t a = 0; a < g.kh; ++a) {
      const float* row = xp + c * p.plane() + a * p.Wp;
      for (std::int64_t b = 0; b < g.kw; ++b, wr += g.O) {
        const __m512 v = _mm512_maskz_loadu_ps(keep, row + b);
#pragma GCC unroll 16
        for (int og = 0; og < OG; ++og) acc[og] = _mm512_fmadd_ps(_mm512_set1_ps(wr[og]), v, acc[og]);
      }
    }
#pragma GCC unroll 16
  for (int og = 0; og < OG; ++og) _mm512_mask_storeu_ps(y + og * g.pixels(), keep, acc[og]);
}

using ForwardRowTile = void (*)(const Geometry&, const Padded&, const float*, const float*, const float*, __mmask16,
                                float*);
template <int... OG>
constexpr std::array<ForwardRowTile, sizeof...(OG)> forward_row_tiles(std::integer_sequence<int, OG...>) {
  return {&forward_row_tile<OG + 1>...};
}
constexpr auto kForwardRowTiles = forward_row_tiles(std::make_integer_sequence<int, L - 1>{});

// Wr[k, o] = w[o, k]
Buffer<float> transposed_weight(const Geometry& g, const float* w) {
  const std::int64_t K = g.patch();
  Buffer<float> wr = scratch<float>(K * g.O);
  for (std::int64_t o = 0; o < g.O; ++o)
    for (std::int64_t k = 0; k < K; ++k) wr[static_cast<std::size_t>(k * g.O + o)] = w[o * K + k];
  return wr;
}

// The mask of the first n lanes (n >= 16: all).
__mmask16 first_lanes(std::int64_t n) { return static_cast<__mmask16>((1u << std::min(L, n)) - 1u); }

// ---- weight gradient -----------------------------------------------------------------------

// dwt[g', o16] += sum_{i, j} dyt[(i, j), o16] xp[offset[g'] + i Wp + j] for g' < G.
template <int G>
void weight_tile(const Geometry& g, const Padded& p, const float* __restrict xp, const std::int64_t* offsets,
                 const float* __restrict dyt, float* __restrict dwt) {
  __m512 acc[G];
  std::int64_t off[G];
#pragma GCC unroll 16
  for (int k = 0; k < G; ++k) acc[k] = _mm512_load_ps(dwt + k * L), off[k] = offsets[k];
  for (std::int64_t i = 0; i < g.OH; ++i, xp += p.Wp)
    for (std::int64_t j = 0; j < g.OW; ++j, dyt += L) {
      const __m512 d = _mm512_load_ps(dyt);
#pragma GCC unroll 16
      for (int k = 0; k < G; ++k) acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(xp[off[k] + j]), d, acc[k]);
    }
#pragma GCC unroll 16
  for (int k = 0; k < G; ++k) _mm512_store_ps(dwt + k * L, acc[k]);
}

constexpr int kWeightTile = 12;
using WeightTile = void (*)(const Geometry&, const Padded&, const float*, const std::int64_t*, const float*, float*);
template <int... G>
constexpr std::array<WeightTile, sizeof...(G)> weight_tiles(std::integer_sequence<int, G...>) {
  return {&weight_tile<G + 1>...};
}
constexpr auto kWeightTiles = weight_tiles(std::make_integer_sequence<int, kWeightTile>{});

// dyt[ob, p, o16] = dy[n, 16 ob + o16, p]; the lanes past O are left as they are (zero).
void blocked_grad(const Geometry& g, const float* dy, std::int64_t n, float* dyt) {
  const std::int64_t P = g.pixels();
  for (std::int64_t o = 0; o < g.O; o += L)
    for (std::int64_t q = 0; q < P; q += L)
      transpose_block(dy + (n * g.O + o) * P + q, P, std::min(L, g.O - o), std::min(L, P - q),
                      dyt + (o / L) * P * L + q * L, L);
}

// Row tiles for dW (see rows_win): part[og, k', l] += sum_{i, j} dy[og, i, j + l] xp[offset[k']
// + i Wp + j + l] over the pieces j = 0, 16, ... of each row, for og < OG and k' < G (the
// offsets past `count` are not stored); the 16 lanes are added up once, at the end.
template <int OG>
constexpr int kRowItems = std::max(1, std::min(12, 24 / OG));  // OG (G + 1) + G registers <= 32

template <int OG>
void weight_row_tile(const Geometry& g, const Padded& p, const float* __restrict xp, const std::int64_t* offsets,
                     std::int64_t count, const float* __restrict dy, std::int64_t K, float* __restrict part) {
  constexpr int G = kRowItems<OG>;
  __m512 acc[OG][G];
  std::int64_t off[G];
#pragma GCC unroll 16
  for (int k = 0; k < G; ++k) off[k] = offsets[std::min<std::int64_t>(k, count - 1)];
#pragma GCC unroll 16
  for (int og = 0; og < OG; ++og)
#pragma GCC unroll 16
    for (int k = 0; k < G; ++k) acc[og][k] = _mm512_setzero_ps();
  for (std::int64_t i = 0; i < g.OH; ++i, xp += p.Wp, dy += g.OW)
    for (std::int64_t j = 0; j < g.OW; j += L) {
      const __mmask16 keep = first_lanes(g.OW - j);
      __m512 v[G];
#pragma GCC unroll 16
      for (int k = 0; k < G; ++k) v[k] = _mm512_maskz_loadu_ps(keep, xp + off[k] + j);
#pragma GCC unroll 16
      for (int og = 0; og < OG; ++og) {
        const __m512 d = _mm512_maskz_loadu_ps(keep, dy + og * g.pixels() + j);
#pragma GCC unroll 16
        for (int k = 0; k < G; ++k) acc[og][k] = _mm512_fmadd_ps(d, v[k], acc[og][k]);
      }
    }
#pragma GCC unroll 16
  for (int og = 0; og < OG; ++og)
#pragma GCC unroll 16
    for (int k = 0; k < G; ++k)
      if (k < count) {
        float* to = part + (og * K + k) * L;
        _mm512_store_ps(to, _mm512_add_ps(_mm512_load_ps(to), acc[og][k]));
      }
}

using WeightRowTile = void (*)(const Geometry&, const Padded&, const float*, const std::int64_t*, std::int64_t,
                               const float*, std::int64_t, float*);
template <int... OG>
constexpr std::array<WeightRowTile, sizeof...(OG)> weight_row_tiles(std::integer_sequence<int, OG...>) {
  return {&weight_row_tile<OG + 1>...};
}
constexpr auto kWeightRowTiles = weight_row_tiles(std::make_integer_sequence<int, L - 1>{});
template <int... OG>
constexpr std::array<int, sizeof...(OG)> row_items(std::integer_sequence<int, OG...>) {
  return {kRowItems<OG + 1>...};
}
constexpr auto kRowItemCounts = row_items(std::make_integer_sequence<int, L - 1>{});

// ---- input gradient ------------------------------------------------------------------------

// dx[q, 0, l] = sum_{o, a, b} wc[o, a, b, q] dyr[o, u - a, kw - 1 + v + l - b] for q < CG, l
// < 16, over the a with 0 <= u - a < OH; dyr points at row 0 column kw - 1 + v of dYr[0] and
// dx at Xp-shaped dx[c0, u, v]. Lanes from `keep` are stored.
template <int CG>
void input_tile(const Geometry& g, std::int64_t row_length, std::int64_t u, const float* __restrict dyr,
                const float* __restrict wc, std::int64_t plane, __mmask16 keep, float* __restrict dx) {
  // With few channels, S partial sums over o (o mod S) keep at least four chains of dependent
  // multiply-adds in flight, so that the adder's latency is hidden.
  constexpr int S = CG == 1 ? 4 : CG <= 3 ? 2 : 1;
  __m512 acc[S][CG];
#pragma GCC unroll 16
  for (int s = 0; s < S; ++s)
#pragma GCC unroll 16
    for (int q = 0; q < CG; ++q) acc[s][q] = _mm512_setzero_ps();
  const std::int64_t a0 = std::max<std::int64_t>(0, u - g.OH + 1), a1 = std::min(g.kh, u + 1);
  auto add = [&](std::int64_t o, __m512(&sum)[CG]) {
    for (std::int64_t a = a0; a < a1; ++a) {
      const float* row = dyr + (o * g.OH + u - a) * row_length;
      const float* w = wc + (o * g.kh + a) * g.kw * g.C;
      for (std::int64_t b = 0; b < g.kw; ++b, w += g.C) {
        const __m512 d = _mm512_loadu_ps(row - b);
#pragma GCC unroll 16
        for (int q = 0; q < CG; ++q) sum[q] = _mm512_fmadd_ps(_mm512_set1_ps(w[q]), d, sum[q]);
      }
    }
  };
  for (std::int64_t o = 0; o < g.O; o += S)
#pragma GCC unroll 4
    for (int s = 0; s < S; ++s)
      if (o + s < g.O) add(o + s, acc[s]);
#pragma GCC unroll 16
  for (int q = 0; q < CG; ++q) {
#pragma GCC unroll 4
    for (int s = 1; s < S; ++s) acc[0][q] = _mm512_add_ps(acc[0][q], acc[s][q]);
    _mm512_mask_storeu_ps(dx + q * plane, keep, acc[0][q]);
  }
}

using InputTile = void (*)(const Geometry&, std::int64_t, std::int64_t, const float*, const float*, std::int64_t,
                           __mmask16, float*);
template <int... CG>
constexpr std::array<InputTile, sizeof...(CG)> input_tiles(std::integer_sequence<int, CG...>) {
  return {&input_tile<CG + 1>...};
}
constexpr auto kInputTiles = input_tiles(std::make_integer_sequence<int, L>{});

// Wc[o, a, b, c] = w[o, c, a, b]
Buffer<float> channels_last_weight(const Geometry& g, const float* w) {
  Buffer<float> wc = scratch<float>(g.O * g.patch());
  for (std::int64_t o = 0; o < g.O; ++o)
    for (std::int64_t c = 0; c < g.C; ++c)
      for (std::int64_t ab = 0; ab < g.kh * g.kw; ++ab)
        wc[static_cast<std::size_t>((o * g.kh * g.kw + ab) * g.C + c)] = w[(o * g.C + c) * g.kh * g.kw + ab];
  return wc;
}

}  // namespace

void forward_direct(const Geometry& g, const float* x, const float* w, const float* bias, float* y) {
  const Padded p(g);
  const std::int64_t K = g.patch(), P = g.pixels(), OB = blocks_of_16(g.O);
  const bool rows = rows_win(g);
  const Buffer<float> wt = rows ? transposed_weight(g, w) : blocked_weight(g, w);
  Buffer<float> bias16 = scratch<float>(OB * L);  // bias by blocks of 16, zero past O
  if (bias) std::copy_n(bias, g.O, bias16.begin());
  const Split split = split_for(g, 0);
  const auto threads = static_cast<std::size_t>(split.threads);
  std::vector<Scratch> xp = scratches(threads, g.ph || g.pw ? g.C * p.plane() : 0),
                       yt = scratches(threads, rows ? 0 : P * L);
  for_each_chunk(g, split, [&](int t, std::int64_t, std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n) {
      const float* image = padded_image(g, p, x, n, xp[t].data());
      if (rows) {
        for (std::int64_t i = 0; i < g.OH; ++i)
          for (std::int64_t j = 0; j < g.OW; j += L)
            kForwardRowTiles[static_cast<std::size_t>(g.O - 1)](g, p, image + i * p.Wp + j, wt.data(), bias16.data(),
                                                                first_lanes(g.OW - j), y + n * g.O * P + i * g.OW + j);
        continue;
      }
      for (std::int64_t ob = 0; ob < OB; ++ob) {
        for (std::int64_t i = 0; i < g.OH; ++i)
          for (std::int64_t j = 0; j < g.OW; j += L) {
            std::int64_t R = std::min(L, g.OW - j);
            kForwardTiles[static_cast<std::size_t>(R - 1)](g, p, image + i * p.Wp + j, wt.data() + ob * K * L,
                                                           bias16.data() + ob * L, yt[t].data() + (i * g.OW + j) * L);
          }
        for (std::int64_t q = 0; q < P; q += L)  // y[n, 16 ob + o16, q] = yt[q, o16]
          transpose_block(yt[t].data() + q * L, L, std::min(L, P - q), std::min(L, g.O - ob * L),
                          y + (n * g.O + ob * L) * P + q, P);
      }
    }
  });
}

void backward_direct(const Geometry& g, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db) {
  const Padded p(g);
  const std::int64_t K = g.patch(), P = g.pixels(), OB = blocks_of_16(g.O);
  // dW: Xp offsets of each k = (c, a, b), and per-chunk sums dWt[ob, k, o16].
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(K));
  for (std::int64_t c = 0, k = 0; c < g.C; ++c)
    for (std::int64_t a = 0; a < g.kh; ++a)
      for (std::int64_t b = 0; b < g.kw; ++b) offsets[static_cast<std::size_t>(k++)] = c * p.plane() + a * p.Wp + b;
  // Per-chunk sums: dWt[ob, k, o16] for channel tiles, part[o, k, l] for row tiles (lanes
  // added up at the end), db16[o, l] likewise.
  const bool rows = rows_win(g);
  const std::int64_t dw_size = dw ? (rows ? g.O : OB) * K * L : 0, db_size = db ? g.O * L : 0;
  const Split split = split_for(g, (dw_size + db_size) * std::int64_t{sizeof(float)});
  const auto threads = static_cast<std::size_t>(split.threads), chunks = static_cast<std::size_t>(split.chunks);
  std::vector<Scratch> dwt = scratches(chunks, dw_size), db_part = scratches(chunks, db_size);  // zeros
  // dx: rows of dY with kw - 1 zeros on the left and room for a 16-wide load at the last
  // column of every 16-wide piece of an Xp row.
  const std::int64_t pieces = blocks_of_16(p.Wp), row_length = g.kw - 1 + pieces * L;
  const Buffer<float> wc = dx ? channels_last_weight(g, w) : Buffer<float>();
  std::vector<Scratch> xp = scratches(threads, dw && (g.ph || g.pw) ? g.C * p.plane() : 0),
                       dyt = scratches(threads, dw && !rows ? OB * P * L : 0),
                       dxp = scratches(threads, dx && (g.ph || g.pw) ? g.C * p.plane() : 0),
                       dyr = scratches(threads, dx ? g.O * g.OH * row_length : 0);  // the padding stays zero
  for_each_chunk(g, split, [&](int t, std::int64_t chunk, std::int64_t n0, std::int64_t n1) {
    const auto part = static_cast<std::size_t>(chunk);
    for (std::int64_t n = n0; n < n1; ++n) {
      if (db)
        for (std::int64_t o = 0; o < g.O; ++o) {
          const float* from = dy + (n * g.O + o) * P;
          __m512 sum = _mm512_load_ps(db_part[part].data() + o * L);
          for (std::int64_t q = 0; q < P; q += L)
            sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(first_lanes(P - q), from + q));
          _mm512_store_ps(db_part[part].data() + o * L, sum);
        }
      if (dw && rows) {
        const float* image = padded_image(g, p, x, n, xp[t].data());
        const std::int64_t G = kRowItemCounts[static_cast<std::size_t>(g.O - 1)];
        for (std::int64_t k = 0; k < K; k += G)
          kWeightRowTiles[static_cast<std::size_t>(g.O - 1)](g, p, image, offsets.data() + k, std::min(G, K - k),
                                                             dy + n * g.O * P, K, dwt[part].data() + k * L);
      } else if (dw) {
        blocked_grad(g, dy, n, dyt[t].data());
        const float* image = padded_image(g, p, x, n, xp[t].data());
        for (std::int64_t ob = 0; ob < OB; ++ob)
          for (std::int64_t k = 0; k < K; k += kWeightTile) {
            std::int64_t G = std::min<std::int64_t>(kWeightTile, K - k);
            kWeightTiles[static_cast<std::size_t>(G - 1)](g, p, image, offsets.data() + k, dyt[t].data() + ob * P * L,
                                                          dwt[part].data() + (ob * K + k) * L);
          }
      }
      if (dx) {
        float* rows = dyr[t].data();
        for (std::int64_t o = 0; o < g.O; ++o)
          for (std::int64_t i = 0; i < g.OH; ++i)
            copy_row(dy + ((n * g.O + o) * g.OH + i) * g.OW, g.OW, rows + (o * g.OH + i) * row_length + g.kw - 1);
        // With padding the tiles write Xp-shaped dXp, whose inside is then dx[n]; without,
        // they write dx[n] directly.
        float* out = g.ph || g.pw ? dxp[t].data() : dx + n * g.image();
        for (std::int64_t c = 0; c < g.C; c += L) {
          std::int64_t CG = std::min(L, g.C - c);
          for (std::int64_t u = 0; u < p.Hp; ++u)
            for (std::int64_t v = 0; v < p.Wp; v += L) {
              auto keep = static_cast<__mmask16>((1u << std::min(L, p.Wp - v)) - 1u);
              kInputTiles[static_cast<std::size_t>(CG - 1)](g, row_length, u, rows + g.kw - 1 + v, wc.data() + c,
                                                            p.plane(), keep, out + (c * p.Hp + u) * p.Wp + v);
            }
        }
        if (g.ph || g.pw)
          for (std::int64_t c = 0; c < g.C; ++c)
            for (std::int64_t h = 0; h < g.H; ++h)
              copy_row(out + (c * p.Hp + h + g.ph) * p.Wp + g.pw, g.W, dx + ((n * g.C + c) * g.H + h) * g.W);
      }
    }
  });
  if (dw) {
    Buffer<float> sum = scratch<float>(dw_size);
    sum_parts(dwt, sum.data(), sum.size());
    for (std::int64_t o = 0; o < g.O; ++o)
      for (std::int64_t k = 0; k < K; ++k)
        dw[o * K + k] = rows ? _mm512_reduce_add_ps(_mm512_load_ps(sum.data() + (o * K + k) * L))
                             : sum[static_cast<std::size_t>(((o / L) * K + k) * L + o % L)];
  }
  if (db) {
    Buffer<float> sum = scratch<float>(g.O * L);
    sum_parts(db_part, sum.data(), sum.size());
    for (std::int64_t o = 0; o < g.O; ++o) db[o] = _mm512_reduce_add_ps(_mm512_load_ps(sum.data() + o * L));
  }
}

}  // namespace tg::conv

#endif  // TAPEGRAD_CONV2D_DIRECT
