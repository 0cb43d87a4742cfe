#pragma once
// bf16 <-> f32 over contiguous vectors. bf16 -> f32 is exact (a shift); f32 -> bf16 rounds to
// nearest even and keeps NaN quiet, bit-identical to mlaserve::float_to_bf16.
#include <cstdint>

namespace mlaserve::cpu {

void bf16_to_f32(const uint16_t* src, float* dst, int64_t n);
void f32_to_bf16(const float* src, uint16_t* dst, int64_t n);

}  // namespace mlaserve::cpu
