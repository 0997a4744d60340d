// The matrix product of isa/gemm.hpp at the avx2 level (its -march: framework/CMakeLists.txt).
#define TAPEGRAD_ISA_LEVEL avx2
#define Eigen tg_eigen_avx2
#include "isa/gemm_kernel.hpp"
