#include "runtime/model/mla.h"

#include "runtime/model/model_parallel.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/linear.h"
#include "runtime/ops/rms_norm.h"

namespace mlaserve {

Tensor mla_forward(const StepContext& ctx, const MlaWeights& w, const Tensor& x,
                   const Tensor& cache) {
  const ModelConfig& c = ctx.config;
  const int64_t T = x.dim(0), H = w.heads.size(), nope = c.qk_nope_head_dim,
                rope = c.qk_rope_head_dim, kv_lora = c.kv_lora_rank;
  const double eps = c.rms_norm_eps;

  Tensor q;
  if (w.has_q_lora()) {
    Tensor c_q = ops::linear(x, w.q_a_proj, ctx.act);   // [T, q_lora]
    ops::rms_norm(c_q, w.q_a_layernorm, eps, c_q);       // [T, q_lora]
    q = ops::linear(c_q, w.q_b_proj, ctx.act);           // [T, H * (nope + rope)]
  } else {
    q = ops::linear(x, w.q_proj, ctx.act);               // [T, H * (nope + rope)]
  }
  q = q.view({T, H, nope + rope});                       // [T, H, nope + rope]
  ops::apply_rope(q.slice(2, nope, nope + rope), ctx.positions, ctx.rope);

  Tensor kv = ops::linear(x, w.kv_a_proj_with_mqa, ctx.act);  // [T, kv_lora + rope]
  // Only the c_kv part is normed; k_pe is rotated and shared by every head.
  Tensor c_kv = ops::rms_norm(kv.slice(1, 0, kv_lora), w.kv_a_layernorm, eps);  // [T, kv_lora]
  Tensor k_pe = kv.slice(1, kv_lora, kv_lora + rope);                            // [T, rope]
  ops::apply_rope(k_pe, ctx.positions, ctx.rope);
  ops::mla_cache_write(cache, ops::to_dtype(c_kv, DType::kF32), ops::to_dtype(k_pe, DType::kF32),
                       ctx.batch);

  // The absorbed kernel reads f32 queries; in bf16 mode q was rounded once already.
  Tensor q_f32 = ctx.act == DType::kF32 ? q : ops::to_dtype(q, DType::kF32);  // [T, H, nope + rope]
  Tensor o = ops::mla_attention(q_f32, w.w_uk, w.w_uv, cache, ctx.batch,
                                ctx.softmax_scale);                           // [T, H, v]
  if (ctx.act != DType::kF32) o = ops::to_dtype(o, ctx.act);                  // [T, H, v]
  // With TP, o_proj over the local heads' columns gives this rank's share of the output.
  Tensor out = ops::linear(o.view({T, H * c.v_head_dim}), w.o_proj,
                           partial_dtype(ctx.tp_group, ctx.act));             // [T, hidden]
  return sum_partials(ctx.tp_group, std::move(out), ctx.act);                 // [T, hidden]
}

}  // namespace mlaserve
