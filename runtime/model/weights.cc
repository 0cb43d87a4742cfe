#include "runtime/model/weights.h"

#include <string>

#include "runtime/core/error.h"
#include "runtime/model/model_parallel.h"

namespace mlaserve {
namespace {

class Loader {
 public:
  Loader(const Checkpoint& checkpoint, const parallel::WorldConfig& world)
      : checkpoint_(checkpoint), world_(world) {}

  // A view of `name`, which must have exactly `shape`. Matrices the kernels read as bf16 are
  // asked for with `bf16_only`; others may also be f32.
  Tensor get(const std::string& name, const Shape& shape, bool bf16_only = false) const {
    check(name, shape, bf16_only);
    return checkpoint_.view(name);
  }
  // Rows [begin, end) of `name` (whole shape `shape`): a view, the rows being contiguous.
  Tensor rows(const std::string& name, const Shape& shape, parallel::IndexRange range,
              bool bf16_only = false) const {
    check(name, shape, bf16_only);
    if (range.begin == 0 && range.end == shape[0]) return checkpoint_.view(name);
    return checkpoint_.view_rows(name, range.begin, range.end);
  }
  // Columns [begin, end) of `name`: a contiguous copy, since the kernels want contiguous weights.
  Tensor columns(const std::string& name, const Shape& shape, parallel::IndexRange range) const {
    check(name, shape, false);
    if (range.begin == 0 && range.end == shape.back()) return checkpoint_.view(name);
    return checkpoint_.read_columns(name, range.begin, range.end);
  }

  // An MLP of width `inter`: whole, or this rank's 1/tp of it (gate/up rows, down columns).
  MlpWeights mlp(const std::string& prefix, int64_t hidden, int64_t inter, bool split) const {
    const parallel::IndexRange part =
        split ? mlp_shard(inter, world_) : parallel::IndexRange{0, inter};
    return {rows(prefix + ".gate_proj.weight", {inter, hidden}, part),
            rows(prefix + ".up_proj.weight", {inter, hidden}, part),
            columns(prefix + ".down_proj.weight", {hidden, inter}, part)};
  }

  const parallel::WorldConfig& world() const { return world_; }

 private:
  void check(const std::string& name, const Shape& shape, bool bf16_only) const {
    MLA_ENSURE(checkpoint_.contains(name), kNotFound, "checkpoint ",
               checkpoint_.path().string(), " has no tensor '", name, "'");
    const TensorInfo& t = checkpoint_.info(name);
    MLA_ENSURE(t.shape == shape, kInvalidArgument, "tensor '", name, "' in ",
               checkpoint_.path().string(), " has shape ", shape_string(t.shape),
               ", the config implies ", shape_string(shape));
    const bool ok = t.dtype == DType::kBF16 || (!bf16_only && t.dtype == DType::kF32);
    MLA_ENSURE(ok, kInvalidArgument, "tensor '", name, "' in ", checkpoint_.path().string(),
               " is ", dtype_name(t.dtype), ", expected ", bf16_only ? "bf16" : "bf16 or f32");
  }

  const Checkpoint& checkpoint_;
  const parallel::WorldConfig& world_;
};

MlaWeights load_mla(const Loader& in, const std::string& p, const ModelConfig& c) {
  const int64_t heads = c.num_attention_heads, nope = c.qk_nope_head_dim,
                rope = c.qk_rope_head_dim, v = c.v_head_dim, kv_lora = c.kv_lora_rank,
                hidden = c.hidden_size;
  MlaWeights w;
  w.heads = in.world().heads(heads);
  const int64_t H = w.heads.size();
  // Per-head matrices are head-major: head h owns rows (or o_proj columns) [h·dim, (h+1)·dim).
  const auto per_head = [&](int64_t dim) {
    return parallel::IndexRange{w.heads.begin * dim, w.heads.end * dim};
  };
  if (c.q_lora_rank) {
    w.q_a_proj = in.get(p + ".q_a_proj.weight", {*c.q_lora_rank, hidden});
    w.q_a_layernorm = in.get(p + ".q_a_layernorm.weight", {*c.q_lora_rank});
    w.q_b_proj = in.rows(p + ".q_b_proj.weight", {heads * (nope + rope), *c.q_lora_rank},
                         per_head(nope + rope));  // [H * (nope + rope), q_lora]
  } else {
    w.q_proj = in.rows(p + ".q_proj.weight", {heads * (nope + rope), hidden},
                       per_head(nope + rope));  // [H * (nope + rope), hidden]
  }
  w.kv_a_proj_with_mqa = in.get(p + ".kv_a_proj_with_mqa.weight", {kv_lora + rope, hidden});
  w.kv_a_layernorm = in.get(p + ".kv_a_layernorm.weight", {kv_lora});
  w.kv_b_proj = in.rows(p + ".kv_b_proj.weight", {heads * (nope + v), kv_lora}, per_head(nope + v),
                        /*bf16_only=*/true);                           // [H * (nope + v), kv_lora]
  Tensor by_head = w.kv_b_proj.view({H, nope + v, kv_lora});         // [H, nope + v, kv_lora]
  w.w_uk = by_head.slice(1, 0, nope);                                 // [H, nope, kv_lora]
  w.w_uv = by_head.slice(1, nope, nope + v);                          // [H, v, kv_lora]
  w.o_proj = in.columns(p + ".o_proj.weight", {hidden, heads * v}, per_head(v));  // [hidden, H * v]
  return w;
}

MoeWeights load_moe(const Loader& in, const std::string& p, const ModelConfig& c) {
  const int64_t hidden = c.hidden_size, inter = c.moe_intermediate_size;
  const parallel::WorldConfig& world = in.world();
  MoeWeights moe;
  moe.gate = in.get(p + ".gate.weight", {c.n_routed_experts, hidden});
  // With EP a rank holds whole experts; without, every expert is TP-split like a dense MLP.
  const parallel::IndexRange experts = world.experts(c.n_routed_experts);
  moe.first_expert = experts.begin;
  for (int64_t e = experts.begin; e < experts.end; ++e)
    moe.experts.push_back(in.mlp(p + ".experts." + std::to_string(e), hidden, inter,
                                 /*split=*/!world.expert_parallel()));
  if (c.n_shared_experts > 0)
    moe.shared = in.mlp(p + ".shared_experts", hidden, c.n_shared_experts * inter, /*split=*/true);
  return moe;
}

}  // namespace

ModelWeights load_weights(const Checkpoint& checkpoint, const ModelConfig& c,
                          const parallel::WorldConfig& world) {
  const Loader in(checkpoint, world);
  const int64_t hidden = c.hidden_size;
  ModelWeights w;
  w.vocab = vocab_shard(c.vocab_size, world);
  w.embed_tokens = in.rows("model.embed_tokens.weight", {c.vocab_size, hidden}, w.vocab);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i);
    LayerWeights layer;
    layer.input_layernorm = in.get(p + ".input_layernorm.weight", {hidden});
    layer.post_attention_layernorm = in.get(p + ".post_attention_layernorm.weight", {hidden});
    layer.attn = load_mla(in, p + ".self_attn", c);
    if (c.is_moe_layer(i)) {
      layer.moe = load_moe(in, p + ".mlp", c);
    } else {
      layer.mlp = in.mlp(p + ".mlp", hidden, c.intermediate_size, /*split=*/true);
    }
    w.layers.push_back(std::move(layer));
  }
  w.norm = in.get("model.norm.weight", {hidden});
  w.lm_head = c.tie_word_embeddings
                  ? w.embed_tokens
                  : in.rows("lm_head.weight", {c.vocab_size, hidden}, w.vocab);
  return w;
}

}  // namespace mlaserve
