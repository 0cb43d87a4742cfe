#pragma once
// Element-wise f32 vector kernels. Outputs may alias inputs.
#include <cstdint>

namespace mlaserve::cpu {

// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
void silu_mul(const float* gate, const float* up, float* out, int64_t n);
// y[i] += x[i]
void add_inplace(float* y, const float* x, int64_t n);
// y[i] += alpha * x[i]  (the MoE combine: out += weight * expert_out)
void axpy(float* y, const float* x, float alpha, int64_t n);
// y[i] *= s
void scale_inplace(float* y, float s, int64_t n);

}  // namespace mlaserve::cpu
