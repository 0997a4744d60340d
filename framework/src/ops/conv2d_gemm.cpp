// SPDX-License-Identifier: MIT
// conv2d's im2col + GEMM drivers (the math is at the top of ops/conv2d.cpp). For a block of
// output rows (ops/im2col.hpp) with cols = im2col(x) [C kh kw, m] and the block's dY gathered
// into dYb [O, m] (m = the block's output pixels):
//   Yb    = W [O, C kh kw] cols + b           then scattered to y[n, o, pixels]
//   dW   += dYb cols^T                        db += dYb summed over its columns
//   dcols = W^T dYb,  dx += col2im(dcols)
//
// Note: threads. With T > 1 threads and at least T images, the batch is cut into chunks of
// whole images that the threads take in turn (Note [conv2d chunks] in ops/conv2d_threads.hpp);
// a chunk's blocks run in order, each GEMM on one thread (kernels::gemm does not split inside
// a parallel region). On two cores this beats splitting each of the small products conv2d
// makes. dx of one image is then written by one thread only; dW and db are summed per chunk
// and the partial sums added in chunk order, so a result depends on the thread count only
// through the order of the sums. With fewer images than threads the blocks run in order and
// kernels::gemm splits each product.
//
// Note: dW needs cols again in the backward. It is recomputed rather than saved by the
// forward: saved, it would hold C kh kw values per output pixel for the whole batch (20 MB for
// LeNet's conv1 at batch 256, 230 MB for 32 x 64 x 56 x 56 with k = 3) until the backward,
// while im2col of a block costs a few percent of the block's GEMMs.
#include <cstring>
#include <vector>

#include "isa/gemm.hpp"
#include "ops/conv2d_threads.hpp"

namespace tg::conv {

namespace {

template <class T>
using Matrix = Eigen::Map<kernels::RowMajorMatrix<T>>;
template <class T>
using ConstMatrix = Eigen::Map<const kernels::RowMajorMatrix<T>>;

// Output rows per block: about kBlockBytes of cols, so that it stays in L2 between im2col
// writing it and the GEMM reading it.
template <class T>
std::int64_t block_rows(const Geometry& g) {
  constexpr std::int64_t kBlockBytes = 512 * 1024;
  std::int64_t row_bytes = g.patch() * g.OW * static_cast<std::int64_t>(sizeof(T));
  return std::clamp<std::int64_t>(kBlockBytes / row_bytes, 1, std::max<std::int64_t>(g.rows(), 1));
}

// Calls f(slot, chunk, r0, r1) for blocks of at most `rows` output rows of each chunk's images
// (Note [conv2d chunks] in ops/conv2d_threads.hpp).
template <class F>
void for_each_block(const Geometry& g, std::int64_t rows, const Split& split, F f) {
  for_each_chunk(g, split, [&](int t, std::int64_t chunk, std::int64_t n0, std::int64_t n1) {
    for (std::int64_t r = n0 * g.OH; r < n1 * g.OH; r += rows) f(t, chunk, r, std::min(r + rows, n1 * g.OH));
  });
}

// Note [cached scratch]: the blocks of cols and of the outputs (512 KB each) and the per-chunk
// dW sums (9 MB for a 512-channel 3x3 layer) were std::vectors: glibc maps and unmaps blocks
// that large at every call, so each call faulted their pages in again and zeroed them (LeNet's
// conv2 forward on the GEMM path: a quarter of its time in page faults). They come from
// tapegrad's per-thread buffer cache instead (the one tensors use; 64-byte aligned), zeroed
// only where the code relies on zeros.
template <class T>
class Scratch {
 public:
  Scratch(std::int64_t size, bool zero) : block_(static_cast<std::size_t>(size) * sizeof(T), zero) {}
  T* data() const { return static_cast<T*>(block_.data()); }

 private:
  CachedBlock block_;
};

// One buffer per thread or chunk.
template <class T>
std::vector<Scratch<T>> scratches(std::size_t count, std::int64_t size, bool zero) {
  std::vector<Scratch<T>> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) out.emplace_back(size, zero);
  return out;
}

// Note [taps on the padding]: on small images some kernel rows or columns only ever meet the
// padding. A 3x3 kernel with padding 1 on a 1x1 image (ResNet-18's last stage at 28x28) uses
// its centre alone: 8 of 9 rows of cols would be zeros, and 8/9 of every product's work
// multiplies them. The taps that meet the image for some output form a rectangle
// [a0, a1) x [b0, b1), and the convolution equals one with that part of the kernel and the
// padding reduced by a0 and b0. The products then skip the zeros; the sums keep their nonzero
// terms in the same order (a different blocking of the inner dimension may change last bits).
struct Taps {
  std::int64_t a0, a1, b0, b1;
  bool all(const Geometry& g) const { return a0 == 0 && a1 == g.kh && b0 == 0 && b1 == g.kw; }
  Geometry geometry(const Geometry& g) const {
    Geometry t = g;
    t.kh = a1 - a0;
    t.kw = b1 - b0;
    t.ph = g.ph - a0;
    t.pw = g.pw - b0;
    return t;
  }
};

// Kernel row a is read by output row i at input row sh i + a - ph: inside for some i in
// [0, OH) iff ph - sh (OH - 1) <= a < ph + H.
inline Taps taps_used(const Geometry& g) {
  auto range = [](std::int64_t k, std::int64_t p, std::int64_t s, std::int64_t out, std::int64_t size) {
    return std::pair{std::clamp<std::int64_t>(p - s * (out - 1), 0, k), std::clamp<std::int64_t>(p + size, 0, k)};
  };
  auto [a0, a1] = range(g.kh, g.ph, g.sh, g.OH, g.H);
  auto [b0, b1] = range(g.kw, g.pw, g.sw, g.OW, g.W);
  return {a0, std::max(a0, a1), b0, std::max(b0, b1)};
}

// w[:, :, a0:a1, b0:b1], contiguous.
template <class T>
Buffer<T> sliced_weight(const Geometry& g, const Taps& t, const T* w) {
  const std::int64_t kh = t.a1 - t.a0, kw = t.b1 - t.b0;
  Buffer<T> out = scratch<T>(g.O * g.C * kh * kw);
  for (std::int64_t oc = 0; oc < g.O * g.C; ++oc)
    for (std::int64_t a = 0; a < kh; ++a)
      std::copy_n(w + (oc * g.kh + t.a0 + a) * g.kw + t.b0, kw, out.data() + (oc * kh + a) * kw);
  return out;
}

}  // namespace

CachedBlock::CachedBlock() noexcept = default;
CachedBlock::CachedBlock(std::size_t bytes, bool zero) {
  if (bytes == 0) return;
  storage_ = Storage::make(bytes);
  if (zero) std::memset(storage_->data(), 0, bytes);
}
CachedBlock::CachedBlock(CachedBlock&& other) noexcept = default;
CachedBlock& CachedBlock::operator=(CachedBlock&& other) noexcept = default;
CachedBlock::~CachedBlock() = default;
void* CachedBlock::data() const noexcept { return storage_ ? storage_->data() : nullptr; }

template <class T>
void forward(const Geometry& g, const T* x, const T* w, const T* bias, T* y) {
  if (const Taps t = taps_used(g); !t.all(g) && t.a1 > t.a0 && t.b1 > t.b0)
    return forward(t.geometry(g), x, sliced_weight(g, t, w).data(), bias, y);
  const std::int64_t rows = block_rows<T>(g), m_max = rows * g.OW;
  const TapTable table = tap_table(g);  // Note [narrow outputs] in ops/im2col.hpp
  const Split split = split_for(g, 0);
  const auto threads = static_cast<std::size_t>(split.threads);
  // Note [cached scratch]; every entry is written before it is read.
  auto cols = scratches<T>(threads, g.patch() * m_max, false), out = scratches<T>(threads, g.O * m_max, false);
  // With one share (a batch smaller than the thread count), kernels::gemm may split each
  // block's product instead; inside the shares' parallel region it never does.
  for_each_block(g, rows, split, [&](int t, std::int64_t, std::int64_t r0, std::int64_t r1) {
    std::int64_t m = (r1 - r0) * g.OW;
    im2col(x, g, r0, r1, cols[t].data(), table);
    kernels::gemm<T>(false, false, g.O, m, g.patch(), T(1), w, g.patch(), cols[t].data(), m, T(0), out[t].data(), m);
    for_each_image(g, r0, r1, [&](std::int64_t n, std::int64_t p0, std::int64_t p1, std::int64_t column) {
      for (std::int64_t o = 0; o < g.O; ++o) {
        const T* from = out[t].data() + o * m + column;
        T* to = y + (n * g.O + o) * g.pixels() + p0;
        const T b = bias ? bias[o] : T(0);
        for (std::int64_t p = 0; p < p1 - p0; ++p) to[p] = from[p] + b;
      }
    });
  });
}

template <class T>
void backward(const Geometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  if (const Taps t = taps_used(g); !t.all(g) && t.a1 > t.a0 && t.b1 > t.b0) {
    const Geometry s = t.geometry(g);
    Buffer<T> dws = scratch<T>(dw ? g.O * s.patch() : 0);
    const Buffer<T> ws = w ? sliced_weight(g, t, w) : Buffer<T>();  // no w when only dW is asked for
    backward(s, x, w ? ws.data() : nullptr, dy, dx, dw ? dws.data() : nullptr, db);
    if (dw) {  // the taps that only met the padding get no gradient
      std::fill(dw, dw + g.O * g.patch(), T(0));
      for (std::int64_t oc = 0; oc < g.O * g.C; ++oc)
        for (std::int64_t a = 0; a < s.kh; ++a)
          std::copy_n(dws.data() + (oc * s.kh + a) * s.kw, s.kw, dw + (oc * g.kh + t.a0 + a) * g.kw + t.b0);
    }
    return;
  }
  const std::int64_t rows = block_rows<T>(g), m_max = rows * g.OW;
  const std::int64_t dw_size = dw ? g.O * g.patch() : 0, db_size = db ? g.O : 0;
  const TapTable table = tap_table(g);
  const Split split = split_for(g, (dw_size + db_size) * std::int64_t{sizeof(T)});
  const auto threads = static_cast<std::size_t>(split.threads), chunks = static_cast<std::size_t>(split.chunks);
  // Note [cached scratch]: cols and dyb are written before they are read; the sums start at 0.
  auto cols = scratches<T>(threads, g.patch() * m_max, false), dyb = scratches<T>(threads, g.O * m_max, false);
  auto dw_part = scratches<T>(chunks, dw_size, true), db_part = scratches<T>(chunks, db_size, true);
  for_each_block(g, rows, split, [&](int t, std::int64_t chunk, std::int64_t r0, std::int64_t r1) {
    const auto part = static_cast<std::size_t>(chunk);
    std::int64_t m = (r1 - r0) * g.OW;
    // dYb[o, column + p] = dY[n, o, p0 + p]; the first block of an image zeroes its dx.
    for_each_image(g, r0, r1, [&](std::int64_t n, std::int64_t p0, std::int64_t p1, std::int64_t column) {
      for (std::int64_t o = 0; o < g.O; ++o)
        std::copy(dy + (n * g.O + o) * g.pixels() + p0, dy + (n * g.O + o) * g.pixels() + p1,
                  dyb[t].data() + o * m + column);
      if (dx && p0 == 0) std::fill(dx + n * g.image(), dx + (n + 1) * g.image(), T(0));
    });
    ConstMatrix<T> dYb(dyb[t].data(), g.O, m);
    Matrix<T> block(cols[t].data(), g.patch(), m);
    if (db) Eigen::Map<kernels::Array<T>>(db_part[part].data(), g.O) += dYb.rowwise().sum().array();
    if (dw) {
      im2col(x, g, r0, r1, block.data(), table);
      kernels::gemm<T>(false, true, g.O, g.patch(), m, T(1), dyb[t].data(), m, block.data(), m, T(1),
                       dw_part[part].data(), g.patch());
    }
    if (dx) {
      kernels::gemm<T>(true, false, g.patch(), m, g.O, T(1), w, g.patch(), dyb[t].data(), m, T(0), block.data(), m);
      col2im(block.data(), g, r0, r1, dx, table);
    }
  });
  if (dw) sum_parts(dw_part, dw, static_cast<std::size_t>(g.O * g.patch()));
  if (db) sum_parts(db_part, db, static_cast<std::size_t>(g.O));
}

template void forward<float>(const Geometry&, const float*, const float*, const float*, float*);
template void forward<double>(const Geometry&, const double*, const double*, const double*, double*);
template void backward<float>(const Geometry&, const float*, const float*, const float*, float*, float*, float*);
template void backward<double>(const Geometry&, const double*, const double*, const double*, double*, double*, double*);

}  // namespace tg::conv
