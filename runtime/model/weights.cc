#include "runtime/model/weights.h"

#include <string>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

class Loader {
 public:
  explicit Loader(const Checkpoint& checkpoint) : checkpoint_(checkpoint) {}

  // A view of `name`, which must have exactly `shape`. Matrices the kernels read as bf16 are
  // asked for with `bf16_only`; others may also be f32.
  Tensor get(const std::string& name, const Shape& shape, bool bf16_only = false) const {
    MLA_ENSURE(checkpoint_.contains(name), kNotFound, "checkpoint ",
               checkpoint_.path().string(), " has no tensor '", name, "'");
    Tensor t = checkpoint_.view(name);
    MLA_ENSURE(t.shape() == shape, kInvalidArgument, "tensor '", name, "' in ",
               checkpoint_.path().string(), " has shape ", shape_string(t.shape()),
               ", the config implies ", shape_string(shape));
    const bool ok = t.dtype() == DType::kBF16 || (!bf16_only && t.dtype() == DType::kF32);
    MLA_ENSURE(ok, kInvalidArgument, "tensor '", name, "' in ", checkpoint_.path().string(),
               " is ", dtype_name(t.dtype()), ", expected ", bf16_only ? "bf16" : "bf16 or f32");
    return t;
  }

  MlpWeights mlp(const std::string& prefix, int64_t hidden, int64_t inter) const {
    return {get(prefix + ".gate_proj.weight", {inter, hidden}),
            get(prefix + ".up_proj.weight", {inter, hidden}),
            get(prefix + ".down_proj.weight", {hidden, inter})};
  }

 private:
  const Checkpoint& checkpoint_;
};

MlaWeights load_mla(const Loader& in, const std::string& p, const ModelConfig& c) {
  const int64_t heads = c.num_attention_heads, nope = c.qk_nope_head_dim,
                rope = c.qk_rope_head_dim, v = c.v_head_dim, kv_lora = c.kv_lora_rank,
                hidden = c.hidden_size;
  MlaWeights w;
  if (c.q_lora_rank) {
    w.q_a_proj = in.get(p + ".q_a_proj.weight", {*c.q_lora_rank, hidden});
    w.q_a_layernorm = in.get(p + ".q_a_layernorm.weight", {*c.q_lora_rank});
    w.q_b_proj = in.get(p + ".q_b_proj.weight", {heads * (nope + rope), *c.q_lora_rank});
  } else {
    w.q_proj = in.get(p + ".q_proj.weight", {heads * (nope + rope), hidden});
  }
  w.kv_a_proj_with_mqa = in.get(p + ".kv_a_proj_with_mqa.weight", {kv_lora + rope, hidden});
  w.kv_a_layernorm = in.get(p + ".kv_a_layernorm.weight", {kv_lora});
  w.kv_b_proj = in.get(p + ".kv_b_proj.weight", {heads * (nope + v), kv_lora}, /*bf16_only=*/true);
  Tensor per_head = w.kv_b_proj.view({heads, nope + v, kv_lora});  // [H, nope + v, kv_lora]
  w.w_uk = per_head.slice(1, 0, nope);                              // [H, nope, kv_lora]
  w.w_uv = per_head.slice(1, nope, nope + v);                       // [H, v, kv_lora]
  w.o_proj = in.get(p + ".o_proj.weight", {hidden, heads * v});
  return w;
}

}  // namespace

ModelWeights load_weights(const Checkpoint& checkpoint, const ModelConfig& c) {
  const Loader in(checkpoint);
  const int64_t hidden = c.hidden_size;
  ModelWeights w;
  w.embed_tokens = in.get("model.embed_tokens.weight", {c.vocab_size, hidden});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i);
    LayerWeights layer;
    layer.input_layernorm = in.get(p + ".input_layernorm.weight", {hidden});
    layer.post_attention_layernorm = in.get(p + ".post_attention_layernorm.weight", {hidden});
    layer.attn = load_mla(in, p + ".self_attn", c);
    if (c.is_moe_layer(i)) {
      MoeWeights moe;
      moe.gate = in.get(p + ".mlp.gate.weight", {c.n_routed_experts, hidden});
      for (int64_t e = 0; e < c.n_routed_experts; ++e)
        moe.experts.push_back(
            in.mlp(p + ".mlp.experts." + std::to_string(e), hidden, c.moe_intermediate_size));
      if (c.n_shared_experts > 0)
        moe.shared = in.mlp(p + ".mlp.shared_experts", hidden,
                            c.n_shared_experts * c.moe_intermediate_size);
      layer.moe = std::move(moe);
    } else {
      layer.mlp = in.mlp(p + ".mlp", hidden, c.intermediate_size);
    }
    w.layers.push_back(std::move(layer));
  }
  w.norm = in.get("model.norm.weight", {hidden});
  w.lm_head = c.tie_word_embeddings ? w.embed_tokens
                                    : in.get("lm_head.weight", {c.vocab_size, hidden});
  return w;
}

}  // namespace mlaserve
