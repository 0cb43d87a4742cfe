#pragma once
// DeepSeekMoE gate on router logits: softmax over experts, then greedy or group-limited top-k.
#include <cstdint>

namespace mlaserve::cpu {

struct MoeRouteParams {
  int64_t n_experts = 0;
  int64_t top_k = 0;
  // Group-limited greedy: experts form n_group equal groups; a group's score is the max score
  // of its experts; only experts of the best topk_group groups compete. n_group <= 1: greedy.
  int64_t n_group = 1;
  int64_t topk_group = 1;
  bool norm_topk_prob = false;       // renormalise chosen weights to sum 1 ...
  float routed_scaling_factor = 1;  // ... else multiply them by this
};

// For each of n_tokens rows of logits [n_tokens, n_experts]: ids[t, 0:top_k] sorted by score
// descending (ties: lower index first) and their weights. scratch holds n_experts + n_group
// floats.
void moe_route(const float* logits, int64_t n_tokens, const MoeRouteParams& p, int32_t* ids,
               float* weights, float* scratch);

}  // namespace mlaserve::cpu
