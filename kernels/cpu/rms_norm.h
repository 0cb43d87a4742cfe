#pragma once
// RMSNorm of one row, as DeepSeek-V2: y = x * rsqrt(mean(x^2) + eps) * w, all in f32.
// y may alias x.
#include <cstdint>

namespace mlaserve::cpu {

void rms_norm_f32w(const float* x, const float* w, float* y, int64_t n, float eps);
void rms_norm_bf16w(const float* x, const uint16_t* w, float* y, int64_t n, float eps);

}  // namespace mlaserve::cpu
