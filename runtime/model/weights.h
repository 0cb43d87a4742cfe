#pragma once
// The DeepSeek-V2 weights, one named struct per block of the math (DESIGN.md "Model math"),
// holding zero-copy views of the checkpoint's tensors in their stored dtype (bf16). A rank of a
// tensor-parallel layout holds only its slices (DESIGN.md "Sharding"); the shapes below are then
// over its local heads (H), MLP width (inter), experts and vocabulary rows.
#include <cstdint>
#include <optional>
#include <vector>

#include "parallel/world.h"
#include "runtime/core/tensor.h"
#include "runtime/model/config.h"
#include "runtime/model/safetensors.h"
#include "runtime/ops/mlp.h"

namespace mlaserve {

struct MlaWeights {
  // With q compression (q_lora_rank set): q = q_a_layernorm(x · q_a_projᵀ) · q_b_projᵀ.
  Tensor q_a_proj;        // [q_lora, hidden]
  Tensor q_a_layernorm;   // [q_lora]
  Tensor q_b_proj;        // [H * (nope + rope), q_lora]
  // Without (V2-Lite): q = x · q_projᵀ.
  Tensor q_proj;          // [H * (nope + rope), hidden]
  Tensor kv_a_proj_with_mqa;  // [kv_lora + rope, hidden]
  Tensor kv_a_layernorm;      // [kv_lora]
  Tensor kv_b_proj;           // [H * (nope + v), kv_lora]
  // Absorbed-attention views of kv_b_proj (no copies): head h's rows split into W_UK_h, W_UV_h.
  Tensor w_uk;                // [H, nope, kv_lora]
  Tensor w_uv;                // [H, v, kv_lora]
  Tensor o_proj;              // [hidden, H * v]: the local heads' input columns (a copy when split)
  parallel::IndexRange heads;  // the heads held, H = heads.size(): all of them when tp == 1

  bool has_q_lora() const { return q_a_proj.defined(); }
};

// SiLU(x · gate_projᵀ) * (x · up_projᵀ), then · down_projᵀ: dense MLP, one expert, or the
// shared experts (one MLP of width n_shared * moe_intermediate). Defined with the ops that run
// it (runtime/ops/mlp.h): gate_proj, up_proj [inter, hidden], down_proj [hidden, inter].
using MlpWeights = ops::MlpWeights;

struct MoeWeights {
  Tensor gate;                      // [n_routed, hidden] router
  // Experts first_expert, first_expert + 1, ...: all n_routed (each TP-split when tp > 1) with
  // ep == 1, or this rank's contiguous block of n_routed / ep whole experts with ep == tp.
  // On a GPU: views into one stacked tensor per projection (ops::upload_experts).
  std::vector<MlpWeights> experts;
  int64_t first_expert = 0;
  std::optional<MlpWeights> shared; // absent when n_shared_experts == 0
};

struct LayerWeights {
  Tensor input_layernorm;           // [hidden]
  Tensor post_attention_layernorm;  // [hidden]
  MlaWeights attn;
  std::optional<MlpWeights> mlp;  // dense layers (layer < first_k_dense_replace)
  std::optional<MoeWeights> moe;  // MoE layers
};

struct ModelWeights {
  Tensor embed_tokens;  // [vocab rows held, hidden]
  std::vector<LayerWeights> layers;
  Tensor norm;          // [hidden]
  Tensor lm_head;       // [vocab rows held, hidden] (embed_tokens when tie_word_embeddings)
  parallel::IndexRange vocab;  // rows of embed_tokens / lm_head held: all when tp == 1
};

// Views every tensor the config calls for and checks its shape and dtype; errors name the
// tensor, the checkpoint and what was expected. With a sharded `world` (validated beforehand by
// validate_model_parallel) only this rank's slices are viewed or copied.
ModelWeights load_weights(const Checkpoint& checkpoint, const ModelConfig& config,
                          const parallel::WorldConfig& world = parallel::WorldConfig::single());

}  // namespace mlaserve
