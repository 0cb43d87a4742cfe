#include "runtime/model/checkpoint_layout.h"

namespace mlaserve {

std::string_view tensor_group_name(TensorGroup group) {
  switch (group) {
    case TensorGroup::kEmbedding: return "embeddings";
    case TensorGroup::kAttention: return "attention";
    case TensorGroup::kDenseMlp: return "dense_mlp";
    case TensorGroup::kGate: return "gate";
    case TensorGroup::kRoutedExperts: return "routed_experts";
    case TensorGroup::kSharedExperts: return "shared_experts";
    case TensorGroup::kNorm: return "norms";
    case TensorGroup::kLmHead: return "lm_head";
  }
  return "?";
}

namespace {

// gate/up map hidden -> width, down maps width -> hidden.
void add_mlp(std::vector<ExpectedTensor>& out, const std::string& prefix, int64_t hidden,
             int64_t width, TensorGroup group, int64_t layer, int64_t expert = -1) {
  out.push_back({prefix + "gate_proj.weight", {width, hidden}, group, layer, expert});
  out.push_back({prefix + "up_proj.weight", {width, hidden}, group, layer, expert});
  out.push_back({prefix + "down_proj.weight", {hidden, width}, group, layer, expert});
}

}  // namespace

std::vector<ExpectedTensor> checkpoint_layout(const ModelConfig& c) {
  const int64_t h = c.hidden_size;
  const int64_t heads = c.num_attention_heads;
  std::vector<ExpectedTensor> out;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, h}, TensorGroup::kEmbedding});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const std::string a = p + "self_attn.";
    out.push_back({p + "input_layernorm.weight", {h}, TensorGroup::kNorm, l});
    if (c.q_lora_rank) {
      out.push_back({a + "q_a_proj.weight", {*c.q_lora_rank, h}, TensorGroup::kAttention, l});
      out.push_back({a + "q_a_layernorm.weight", {*c.q_lora_rank}, TensorGroup::kNorm, l});
      out.push_back({a + "q_b_proj.weight", {heads * c.qk_head_dim(), *c.q_lora_rank},
                     TensorGroup::kAttention, l});
    } else {
      out.push_back({a + "q_proj.weight", {heads * c.qk_head_dim(), h}, TensorGroup::kAttention, l});
    }
    out.push_back({a + "kv_a_proj_with_mqa.weight", {c.latent_dim(), h}, TensorGroup::kAttention, l});
    out.push_back({a + "kv_a_layernorm.weight", {c.kv_lora_rank}, TensorGroup::kNorm, l});
    out.push_back({a + "kv_b_proj.weight", {heads * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank},
                   TensorGroup::kAttention, l});
    out.push_back({a + "o_proj.weight", {h, heads * c.v_head_dim}, TensorGroup::kAttention, l});
    out.push_back({p + "post_attention_layernorm.weight", {h}, TensorGroup::kNorm, l});
    if (!c.is_moe_layer(l)) {
      add_mlp(out, p + "mlp.", h, c.intermediate_size, TensorGroup::kDenseMlp, l);
      continue;
    }
    out.push_back({p + "mlp.gate.weight", {c.n_routed_experts, h}, TensorGroup::kGate, l});
    for (int64_t e = 0; e < c.n_routed_experts; ++e)
      add_mlp(out, p + "mlp.experts." + std::to_string(e) + ".", h, c.moe_intermediate_size,
              TensorGroup::kRoutedExperts, l, e);
    if (c.n_shared_experts > 0)
      add_mlp(out, p + "mlp.shared_experts.", h, c.n_shared_experts * c.moe_intermediate_size,
              TensorGroup::kSharedExperts, l);
  }
  out.push_back({"model.norm.weight", {h}, TensorGroup::kNorm});
  if (!c.tie_word_embeddings)
    out.push_back({"lm_head.weight", {c.vocab_size, h}, TensorGroup::kLmHead});
  return out;
}

}  // namespace mlaserve
