#pragma once
// The DeepSeekMoE gate on router logits, on the device (the contract of ops::moe_route and
// kernels/cpu/moe_route.h): scores = softmax(logits row) over n_experts; greedy top_k, or
// group-limited (n_group equal groups, a group's score the max of its experts, only the best
// topk_group groups compete); ties go to the lower index, as on the CPU. Weights are the chosen
// scores renormalised (norm_topk_prob) or multiplied by routed_scaling_factor.
#include <cstdint>

#include <cuda_runtime_api.h>

namespace mlaserve::cuda {

struct MoeRouteArgs {
  const float* logits = nullptr;  // [tokens, n_experts], rows `ld` floats apart
  int64_t ld = 0;
  int64_t tokens = 0;
  int64_t n_experts = 0;  // 1..kMoeRouteMaxExperts
  int64_t top_k = 0;      // 1..experts eligible after the group limit (checked by the op)
  int64_t n_group = 1;    // <= 1: plain greedy
  int64_t topk_group = 1;
  bool norm_topk_prob = false;
  float routed_scaling_factor = 1.f;
  int32_t* ids = nullptr;     // [tokens, top_k], by score descending
  float* weights = nullptr;   // [tokens, top_k]
};

inline constexpr int64_t kMoeRouteMaxExperts = 1024;

void moe_route(const MoeRouteArgs& args, cudaStream_t stream);

}  // namespace mlaserve::cuda
