// The matrix product of isa/gemm.hpp at the avx512 level (its -march: framework/CMakeLists.txt).
#define TAPEGRAD_ISA_LEVEL avx512
#define Eigen tg_eigen_avx512
#include "isa/gemm_kernel.hpp"
