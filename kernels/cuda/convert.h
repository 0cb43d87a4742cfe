#pragma once
// Element conversions on the device. bf16 values are raw uint16_t bits (as in runtime/core);
// f32 -> bf16 rounds to nearest even, like mlaserve::float_to_bf16.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

namespace mlaserve::cuda {

void bf16_to_f32(const uint16_t* src, float* dst, size_t n, cudaStream_t stream);
void f32_to_bf16(const float* src, uint16_t* dst, size_t n, cudaStream_t stream);

}  // namespace mlaserve::cuda
