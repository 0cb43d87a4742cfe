#pragma once
// The DeepSeekMoE gate after its linear layer: scores = softmax(logits) over routed experts,
// greedy or group-limited top-k (DESIGN.md "MoE gate"), weights renormalised when
// norm_topk_prob, else multiplied by routed_scaling_factor. Runs on the logits' device; the
// outputs are allocated there (on a GPU nothing returns to the host).
#include "runtime/core/tensor.h"

namespace mlaserve::ops {

struct MoeRouting {
  Tensor ids;      // [T, k] i32, per token sorted by score descending, ties -> lower id
  Tensor weights;  // [T, k] f32, aligned with ids
};

// The routing fields of a model config as plain numbers (runtime/model/moe.h fills them from a
// ModelConfig: moe_route_options).
struct MoeRouteOptions {
  int64_t top_k = 0;
  int64_t n_group = 1;     // <= 1: plain greedy
  int64_t topk_group = 1;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
};

// logits: [T, n_routed_experts] f32 (contiguous or row-strided rank 2).
MoeRouting moe_route(const Tensor& logits, const MoeRouteOptions& options);

}  // namespace mlaserve::ops
