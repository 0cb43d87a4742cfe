#pragma once
// The feed-forward blocks: a dense SiLU-gated MLP, and DeepSeekMoE (routed experts + shared).
#include "runtime/core/tensor.h"
#include "runtime/model/config.h"
#include "runtime/model/step_context.h"
#include "runtime/model/weights.h"
#include "runtime/ops/moe_route.h"

namespace mlaserve {

// The gate's routing fields of `config` (topk_method, n_group, topk_group, norm_topk_prob,
// routed_scaling_factor, num_experts_per_tok) as ops::moe_route takes them.
ops::MoeRouteOptions moe_route_options(const ModelConfig& config);

// The dense MLP block: x [T, hidden] in ctx.act → [T, hidden] in ctx.act, summed over the TP
// group (a collective when there is one).
Tensor dense_mlp_forward(const StepContext& ctx, const MlpWeights& w, const Tensor& x);

// Routes every token to its top-k experts, runs each expert this rank holds once on the block of
// tokens routed to it, and adds the weighted outputs per token in expert order (so a token's sum
// does not depend on which other tokens share the batch), plus the shared experts; then one
// all-reduce over the TP group sums the ranks' routed and shared parts. The router is replicated,
// so every rank routes identically. `routing`, when given, receives the chosen experts and
// weights. Returns [T, hidden] in ctx.act.
Tensor moe_forward(const StepContext& ctx, const MoeWeights& w, const Tensor& x,
                   ops::MoeRouting* routing = nullptr);

}  // namespace mlaserve
