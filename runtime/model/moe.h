#pragma once
// The feed-forward blocks: a dense SiLU-gated MLP, and DeepSeekMoE (routed experts + shared).
#include "runtime/core/tensor.h"
#include "runtime/model/config.h"
#include "runtime/model/weights.h"
#include "runtime/ops/moe_route.h"

namespace mlaserve {

// x: [T, hidden] in `act`. Returns [T, hidden] in `act`.
Tensor mlp_forward(const MlpWeights& w, const Tensor& x, DType act);

// Routes every token to its top-k experts, runs each expert once on the block of tokens routed
// to it, and adds the weighted outputs per token in expert order (so a token's sum does not
// depend on which other tokens share the batch), plus the shared experts. `routing`, when
// given, receives the chosen experts and weights. Returns [T, hidden] in `act`.
Tensor moe_forward(const ModelConfig& config, const MoeWeights& w, const Tensor& x, DType act,
                   ops::MoeRouting* routing = nullptr);

}  // namespace mlaserve
