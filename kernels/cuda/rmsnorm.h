#pragma once
// RMSNorm over rows: y[r, :] = x[r, :] * rsqrt(mean(x[r, :]^2) + eps) * weight[:], in f32 (the
// contract of ops::rms_norm and kernels/cpu/rms_norm.h). x, y and weight are f32 or bf16 each
// (bf16 as raw uint16_t bits); rows are `ldx` / `ldy` elements apart with unit stride inside a
// row; y may alias x (same ld). One block per row.
#include <cstdint>

#include <cuda_runtime_api.h>

namespace mlaserve::cuda {

struct RmsNormArgs {
  const void* x = nullptr;
  bool x_bf16 = false;
  int64_t ldx = 0;
  const void* weight = nullptr;
  bool weight_bf16 = false;
  void* y = nullptr;
  bool y_bf16 = false;
  int64_t ldy = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  float eps = 0;
};

void rms_norm(const RmsNormArgs& args, cudaStream_t stream);

// Contiguous rows of one dtype (kept for the kernel tests).
void rmsnorm_f32(const float* x, const float* weight, float* y, int64_t rows, int64_t cols,
                 float eps, cudaStream_t stream);
void rmsnorm_bf16(const uint16_t* x, const uint16_t* weight, uint16_t* y, int64_t rows,
                  int64_t cols, float eps, cudaStream_t stream);

}  // namespace mlaserve::cuda
