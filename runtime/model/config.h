#pragma once
// The model's hyper-parameters, parsed from a HuggingFace DeepSeek-V2 config.json and validated.
// Field names follow the HF config so that errors can name the field a user has to fix.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace mlaserve {

enum class TopkMethod { kGreedy, kGroupLimitedGreedy };  // "greedy" (also "gready"), "group_limited_greedy"

struct YarnScaling {  // rope_scaling with type "yarn"
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 0.0;
};

struct ModelConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;      // dense MLP width (layers < first_k_dense_replace)
  int64_t moe_intermediate_size = 0;  // width of one routed / shared expert
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t n_shared_experts = 0;
  int64_t n_routed_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t first_k_dense_replace = 0;
  int64_t moe_layer_freq = 1;
  std::optional<int64_t> q_lora_rank;  // null: no q compression (V2-Lite), q = x · q_proj
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  TopkMethod topk_method = TopkMethod::kGreedy;
  double routed_scaling_factor = 1.0;
  bool norm_topk_prob = false;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  std::optional<YarnScaling> rope_scaling;
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = 0;
  int64_t eos_token_id = 1;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  int64_t latent_dim() const { return kv_lora_rank + qk_rope_head_dim; }  // cached per token/layer
  // HF: routed experts exist, layer >= first_k_dense_replace and layer % moe_layer_freq == 0.
  bool is_moe_layer(int64_t layer) const;
  // (nope + rope)^-0.5, times mscale(factor, mscale_all_dim)^2 under YaRN.
  double softmax_scale() const;
};

// YaRN's attention scale: 0.1·m·ln(factor) + 1, and 1 when factor <= 1 or m == 0.
double yarn_mscale(double factor, double mscale);

// Parses and validates; `source` (a path) prefixes every error, which also names the field.
ModelConfig parse_model_config(const nlohmann::json& json, std::string_view source);
// Reads a config.json, or DIR/config.json when given a directory.
ModelConfig load_model_config(const std::filesystem::path& path);
// The HF config.json text for `config` (what make-model writes next to the weights).
std::string model_config_to_json(const ModelConfig& config);

}  // namespace mlaserve
