#pragma once
// The routed experts a rank holds, applied to the tokens routed to them (DESIGN.md "Model math",
// "Sharding"): for x [T, hidden] and a routing (ids, weights [T, k]),
//   y[t] = Σ over slots j with ids[t, j] in [first_expert, first_expert + experts.size())
//          of weights[t, j] · expert(x[t]),   expert = ops::mlp of experts[ids[t, j] - first_expert]
// with gate / up / SiLU·mul in x's dtype (the activation dtype) and each expert's output in
// `out_dtype` before weighting (f32 under TP, so the all-reduce adds unrounded partials).
// y is [T, hidden] f32 on x's device; tokens routed to no local expert get zeros. Each token's
// terms are added in ascending expert order, so its sum does not depend on the other tokens of
// the batch.
//
// CPU: one ops::mlp per used expert over the block of its tokens, on the thread pool.
// CUDA: nothing returns to the host (kernels/cuda/moe_experts.h: align, grouped GEMMs, combine);
// the experts' weights must be bf16 views into one stacked tensor per projection, evenly
// strided — what upload_experts builds.
#include <cstdint>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/ops/mlp.h"
#include "runtime/ops/moe_route.h"

namespace mlaserve::ops {

Tensor moe_experts(const Tensor& x, const MoeRouting& routing,
                   const std::vector<MlpWeights>& experts, int64_t first_expert, DType out_dtype);

// The experts on `device`, laid out for moe_experts: on a GPU, three stacked tensors
// [E, inter, hidden] (gate, up) and [E, hidden, inter] (down), each expert's MlpWeights views of
// its slice, uploaded once. On the CPU the experts are returned as they are (zero-copy views of
// the checkpoint). All experts must have the same shapes and dtypes.
std::vector<MlpWeights> upload_experts(const std::vector<MlpWeights>& experts, Device device);

}  // namespace mlaserve::ops
