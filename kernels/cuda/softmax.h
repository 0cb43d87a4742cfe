#pragma once
// Numerically stable softmax of f32 rows on the device: out[r, :] = exp(x[r, :] - max) / sum.
// Rows are ldx / ldo elements apart (unit stride inside a row); out may be x itself (same ld).
// A row of all -inf (fully masked) gives zeros, never NaN — the contract of cpu::softmax_row.
#include <cstdint>

#include <cuda_runtime_api.h>

namespace mlaserve::cuda {

void softmax_rows(const float* x, int64_t ldx, float* out, int64_t ldo, int64_t rows,
                  int64_t cols, cudaStream_t stream);

}  // namespace mlaserve::cuda
