// SPDX-License-Identifier: MIT
#pragma once
// conv2d's two reference implementations (ops/conv2d_reference.cpp), written to be read:
//   naive    plain nested loops, one per sum at the top of ops/conv2d.cpp
//   rotated  the same sums as 2-D correlations of whole planes, dx as the correlation of the
//            zero-padded, dilated dY with the kernel turned by 180 degrees
// Both take any dtype, stride and padding and run on one thread. ops/conv2d.cpp runs them when
// tg::set_conv2d_algorithm chose them; `automatic` never does.
#include "ops/im2col.hpp"

namespace tg::conv {

// The same contracts as forward and backward in ops/im2col.hpp: contiguous row-major buffers,
// bias and each gradient may be null, gradients are overwritten, not added to.
template <class T>
void forward_naive(const Geometry& g, const T* x, const T* w, const T* bias, T* y);
template <class T>
void backward_naive(const Geometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db);

template <class T>
void forward_rotated(const Geometry& g, const T* x, const T* w, const T* bias, T* y);
template <class T>
void backward_rotated(const Geometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db);

}  // namespace tg::conv
