#include "runtime/model/model_stats.h"

namespace mlaserve {

ModelStats compute_model_stats(const ModelConfig& c) {
  ModelStats s;
  for (const ExpectedTensor& t : checkpoint_layout(c)) {
    const int64_t n = shape_numel(t.shape);
    const int g = static_cast<int>(t.group);
    s.params_by_group[g] += n;
    s.total_params += n;
    // A token visits num_experts_per_tok of the n_routed_experts: count that share of each layer.
    if (t.group == TensorGroup::kRoutedExperts) {
      if (t.expert < c.num_experts_per_tok) s.activated_by_group[g] += n;
      continue;
    }
    if (t.group == TensorGroup::kEmbedding && !c.tie_word_embeddings) continue;
    s.activated_by_group[g] += n;
  }
  for (int64_t n : s.activated_by_group) s.activated_params += n;
  s.latent_kv_values_per_token = c.latent_dim() * c.num_hidden_layers;
  s.mha_kv_values_per_token =
      c.num_attention_heads * (c.qk_head_dim() + c.v_head_dim) * c.num_hidden_layers;
  return s;
}

}  // namespace mlaserve
