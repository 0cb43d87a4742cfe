#pragma once
// The SiLU-gated MLP (DESIGN.md "Model math"): y = (SiLU(x · gate_projᵀ) * (x · up_projᵀ)) ·
// down_projᵀ. One struct names its three projections wherever such an MLP appears: the dense
// MLP of the first layers, each routed expert, and the shared experts (one MLP of width
// n_shared * moe_intermediate).
#include "runtime/core/tensor.h"

namespace mlaserve::ops {

struct MlpWeights {
  Tensor gate_proj;  // [inter, hidden]
  Tensor up_proj;    // [inter, hidden]
  Tensor down_proj;  // [hidden, inter]
};

// x: [T, hidden] in `act` (f32 or bf16). gate and up are computed into `act`, SiLU·mul in f32
// rounded to `act`, down into `out_dtype`: [T, hidden]. With TP-split weights this is the rank's
// partial sum of the MLP (then out_dtype is f32 so the all-reduce adds unrounded partials).
Tensor mlp(const MlpWeights& w, const Tensor& x, DType act, DType out_dtype);

}  // namespace mlaserve::ops
