// SPDX-License-Identifier: MIT
#pragma once
// Eigen/Core and the x86 intrinsics headers, included once for every file that needs them.
//
// Note: GCC 12 reports `__Y is (maybe) used uninitialized` inside avx512fintrin.h, where
// Eigen's AVX-512 packets and the direct conv2d's vectors come from (GCC bug 105593: the
// intrinsics initialise a variable with itself on purpose). The pragmas silence exactly those
// two warnings, for these headers only. clang has neither the warning nor the false positives.
//
// A per-level kernel unit (isa/kernels_<level>.cpp) defines `Eigen` as a macro for its own
// namespace before including this (isa/gemm_kernel.hpp says why); each unit includes it once.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
