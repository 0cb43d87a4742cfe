#pragma once
// The one cuBLAS GEMM behind linear layers and the GEMM probe: y[m, n] = x[m, k] · w[n, k]ᵀ with
// every matrix row-major (w in the checkpoint's [out, in] layout, used as is), rows `ld*`
// elements apart, f32 accumulation (CUBLAS_COMPUTE_32F).
//
// Exactness: f32 × f32 runs in plain f32 (the handle's math mode must not enable TF32; the
// context's handle does not), and split-K partial sums stay in f32 even when y is bf16
// (CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION for the call), so a bf16 y is rounded once.
#include <cstdint>

#include <cublas_v2.h>
#include <library_types.h>

namespace mlaserve::cuda {

struct GemmArgs {
  const void* x = nullptr;
  cudaDataType x_type = CUDA_R_16BF;
  int64_t ldx = 0;  // >= k unless m == 1
  const void* w = nullptr;
  cudaDataType w_type = CUDA_R_16BF;
  int64_t ldw = 0;  // >= k unless n == 1
  void* y = nullptr;
  cudaDataType y_type = CUDA_R_32F;
  int64_t ldy = 0;  // >= n unless m == 1
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
};

// Supported types (x, w -> y): bf16, bf16 -> bf16 or f32; f32, f32 -> f32. Every size and
// leading dimension must fit cuBLAS's int. k == 0 is refused (cuBLAS leaves y untouched then;
// callers that allow it zero y themselves). Enqueued on the handle's stream; no host wait.
void gemm_nt(cublasHandle_t handle, const GemmArgs& args);

}  // namespace mlaserve::cuda
