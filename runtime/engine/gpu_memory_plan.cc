#include "runtime/engine/gpu_memory_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

std::string gib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
  return text;
}

}  // namespace

std::string GpuMemoryPlan::describe() const {
  char u[16];
  std::snprintf(u, sizeof u, "%.2f", utilization);
  return str_cat("--gpu-memory-utilization ", u, " of ", gib(total_bytes), ": ", gib(in_use_bytes),
                 " in use (weights, CUDA/NCCL contexts, other processes), workspace ",
                 gib(workspace_bytes), ", latent cache ", gib(cache_bytes));
}

GpuMemoryPlan plan_gpu_memory(double utilization, int64_t free_bytes, int64_t total_bytes,
                              int64_t workspace_bytes, int64_t requested_cache_bytes) {
  MLA_ENSURE(utilization > 0 && utilization <= 1, kInvalidArgument,
             "--gpu-memory-utilization must be in (0, 1], got ", utilization);
  MLA_ENSURE(free_bytes >= 0 && total_bytes > 0 && free_bytes <= total_bytes, kInternal,
             "GPU memory figures: free ", free_bytes, " of total ", total_bytes);
  GpuMemoryPlan p;
  p.utilization = utilization;
  p.total_bytes = total_bytes;
  p.in_use_bytes = total_bytes - free_bytes;
  p.workspace_bytes = workspace_bytes;
  const auto allowed = static_cast<int64_t>(std::floor(utilization * static_cast<double>(total_bytes)));
  // Never plan past what is physically free, whatever U says.
  const int64_t left = std::min(allowed - p.in_use_bytes, free_bytes) - workspace_bytes;
  MLA_ENSURE(left > 0, kResourceExhausted, "no GPU memory left for the KV cache: ",
             p.describe(), "; raise --gpu-memory-utilization, free the GPU or add GPUs (--tp)");
  if (requested_cache_bytes > 0) {
    MLA_ENSURE(requested_cache_bytes <= left, kInvalidArgument, "--kv-cache-memory ",
               requested_cache_bytes, " bytes does not fit: ", gib(left),
               " are left for the cache under ", p.describe());
    p.cache_bytes = requested_cache_bytes;
  } else {
    p.cache_bytes = left;
  }
  return p;
}

int64_t gpu_workspace_bytes(const ModelConfig& c, int tp, int64_t max_tokens) {
  const int64_t heads = c.num_attention_heads / tp;
  const int64_t qk = c.qk_nope_head_dim + c.qk_rope_head_dim;
  // Values alive per token at the widest point of a layer, f32.
  const int64_t attention = 2 * c.hidden_size + heads * qk + c.latent_dim() +
                            2 * heads * c.kv_lora_rank + heads * c.v_head_dim +
                            c.q_lora_rank.value_or(0);
  const int64_t moe = c.n_routed_experts + c.num_experts_per_tok * (2 * c.moe_intermediate_size +
                                                                    c.hidden_size) +
                      2 * c.n_shared_experts * c.moe_intermediate_size / tp;
  const int64_t dense = 2 * c.intermediate_size / tp;
  const int64_t logits = c.vocab_size;  // the gathered [rows, vocab] f32 logits
  const int64_t per_token = 4 * (std::max({attention, moe, dense}) + logits + c.hidden_size);
  constexpr int64_t kFixed = int64_t{512} << 20;
  return kFixed + 2 * per_token * max_tokens;
}

}  // namespace mlaserve
