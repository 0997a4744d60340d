// The matrix product of isa/gemm.hpp at the baseline level (its -march: framework/CMakeLists.txt).
#define TAPEGRAD_ISA_LEVEL baseline
#define Eigen tg_eigen_baseline
#include "isa/gemm_kernel.hpp"
