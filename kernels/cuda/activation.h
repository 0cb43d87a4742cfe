#pragma once
// The MLP activation on the device: out = SiLU(gate) * up over [rows, cols] operands
// (float_rows.h), f32 or bf16 each, computed in f32 (SiLU(g) = g / (1 + exp(-g))). out may be
// gate or up itself (same rows). gate and up may be the two halves of one fused row.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/cuda/float_rows.h"

namespace mlaserve::cuda {

void silu_mul(FloatRows gate, FloatRows up, FloatRows out, int64_t rows, int64_t cols,
              cudaStream_t stream);

}  // namespace mlaserve::cuda
