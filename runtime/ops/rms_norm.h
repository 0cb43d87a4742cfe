#pragma once
// RMSNorm over the last dimension: out = x * rsqrt(mean(x^2) + eps) * weight, in f32.
// x, out: [..., n] f32 or bf16 (same shape; out may be x itself); weight: [n] f32 or bf16.
// Rows may be strided (rank 2, unit last stride), e.g. the c_kv slice of the kv_a output.
#include "runtime/core/tensor.h"

namespace mlaserve::ops {

void rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& out);
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps);  // out has x's dtype

}  // namespace mlaserve::ops
