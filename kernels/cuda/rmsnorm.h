#pragma once
// RMSNorm over rows: y[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight[:], accumulated in
// f32. Rows are contiguous (stride `cols`); y may alias x. bf16 data is raw uint16_t bits.
#include <cstdint>

#include <cuda_runtime_api.h>

namespace mlaserve::cuda {

void rmsnorm_f32(const float* x, const float* weight, float* y, int64_t rows, int64_t cols,
                 float eps, cudaStream_t stream);
void rmsnorm_bf16(const uint16_t* x, const uint16_t* weight, uint16_t* y, int64_t rows,
                  int64_t cols, float eps, cudaStream_t stream);

}  // namespace mlaserve::cuda
