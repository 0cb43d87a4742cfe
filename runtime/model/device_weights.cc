#include "runtime/model/device_weights.h"

#include <set>

#include "runtime/ops/moe_experts.h"
#include "runtime/ops/transfer.h"

namespace mlaserve {
namespace {

Tensor up(const Tensor& t, Device device) {
  return t.defined() ? ops::to_device(t, device) : Tensor();
}

MlpWeights up(const MlpWeights& w, Device device) {
  return {up(w.gate_proj, device), up(w.up_proj, device), up(w.down_proj, device)};
}

MlaWeights up(const MlaWeights& w, const ModelConfig& c, Device device) {
  MlaWeights d;
  d.q_a_proj = up(w.q_a_proj, device);
  d.q_a_layernorm = up(w.q_a_layernorm, device);
  d.q_b_proj = up(w.q_b_proj, device);
  d.q_proj = up(w.q_proj, device);
  d.kv_a_proj_with_mqa = up(w.kv_a_proj_with_mqa, device);
  d.kv_a_layernorm = up(w.kv_a_layernorm, device);
  d.kv_b_proj = up(w.kv_b_proj, device);
  const int64_t H = w.heads.size(), nope = c.qk_nope_head_dim, v = c.v_head_dim;
  Tensor by_head = d.kv_b_proj.view({H, nope + v, c.kv_lora_rank});  // [H, nope + v, kv_lora]
  d.w_uk = by_head.slice(1, 0, nope);                                // [H, nope, kv_lora]
  d.w_uv = by_head.slice(1, nope, nope + v);                         // [H, v, kv_lora]
  d.o_proj = up(w.o_proj, device);
  d.heads = w.heads;
  return d;
}

MoeWeights up(const MoeWeights& w, Device device) {
  MoeWeights d;
  d.gate = up(w.gate, device);
  d.experts = ops::upload_experts(w.experts, device);
  d.first_expert = w.first_expert;
  if (w.shared) d.shared = up(*w.shared, device);
  return d;
}

}  // namespace

ModelWeights upload_weights(const ModelWeights& cpu, const ModelConfig& config, Device device) {
  ModelWeights d;
  d.embed_tokens = up(cpu.embed_tokens, device);
  for (const LayerWeights& layer : cpu.layers) {
    LayerWeights l;
    l.input_layernorm = up(layer.input_layernorm, device);
    l.post_attention_layernorm = up(layer.post_attention_layernorm, device);
    l.attn = up(layer.attn, config, device);
    if (layer.mlp) l.mlp = up(*layer.mlp, device);
    if (layer.moe) l.moe = up(*layer.moe, device);
    d.layers.push_back(std::move(l));
  }
  d.norm = up(cpu.norm, device);
  const bool tied = cpu.lm_head.storage() == cpu.embed_tokens.storage() &&
                    cpu.lm_head.raw_data() == cpu.embed_tokens.raw_data();
  d.lm_head = tied ? d.embed_tokens : up(cpu.lm_head, device);
  d.vocab = cpu.vocab;
  return d;
}

int64_t weight_bytes(const ModelWeights& w) {
  std::set<const void*> seen;  // first bytes of each tensor: a tied lm_head counts once
  int64_t bytes = 0;
  const auto add = [&](const Tensor& t) {
    if (t.defined() && seen.insert(t.raw_data()).second) bytes += static_cast<int64_t>(t.nbytes());
  };
  const auto add_mlp = [&](const MlpWeights& m) {
    add(m.gate_proj);
    add(m.up_proj);
    add(m.down_proj);
  };
  add(w.embed_tokens);
  for (const LayerWeights& l : w.layers) {
    add(l.input_layernorm);
    add(l.post_attention_layernorm);
    const MlaWeights& a = l.attn;
    for (const Tensor* t : {&a.q_a_proj, &a.q_a_layernorm, &a.q_b_proj, &a.q_proj,
                            &a.kv_a_proj_with_mqa, &a.kv_a_layernorm, &a.kv_b_proj, &a.o_proj})
      add(*t);
    if (l.mlp) add_mlp(*l.mlp);
    if (l.moe) {
      add(l.moe->gate);
      for (const MlpWeights& e : l.moe->experts) add_mlp(e);
      if (l.moe->shared) add_mlp(*l.moe->shared);
    }
  }
  add(w.norm);
  add(w.lm_head);
  return bytes;
}

}  // namespace mlaserve
