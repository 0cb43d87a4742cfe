#pragma once
// The MLP activation: out = SiLU(gate) * up, element-wise, computed in f32.
// gate, up, out: same shape, f32 or bf16 each (mixing allowed), on one device (where it runs);
// out may alias gate or up.
// Rank-2 row slices with unit last stride are accepted, so gate/up may be the two halves of one
// fused [m, 2*inter] projection output: silu_mul(h.slice(1, 0, I), h.slice(1, I, 2*I), out).
#include "runtime/core/tensor.h"

namespace mlaserve::ops {

void silu_mul(const Tensor& gate, const Tensor& up, const Tensor& out);
Tensor silu_mul(const Tensor& gate, const Tensor& up);  // out: f32 [same shape], gate's device

}  // namespace mlaserve::ops
