#include "runtime/model/moe.h"

#include "runtime/model/model_parallel.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/linear.h"
#include "runtime/ops/mlp.h"
#include "runtime/ops/moe_experts.h"

namespace mlaserve {

ops::MoeRouteOptions moe_route_options(const ModelConfig& config) {
  ops::MoeRouteOptions o;
  o.top_k = config.num_experts_per_tok;
  const bool grouped = config.topk_method == TopkMethod::kGroupLimitedGreedy;
  o.n_group = grouped ? config.n_group : 1;
  o.topk_group = grouped ? config.topk_group : 1;
  o.norm_topk_prob = config.norm_topk_prob;
  o.routed_scaling_factor = config.routed_scaling_factor;
  return o;
}

Tensor dense_mlp_forward(const StepContext& ctx, const MlpWeights& w, const Tensor& x) {
  Tensor out = ops::mlp(w, x, ctx.act, partial_dtype(ctx.tp_group, ctx.act));  // [T, hidden]
  return sum_partials(ctx.tp_group, std::move(out), ctx.act);                   // [T, hidden]
}

Tensor moe_forward(const StepContext& ctx, const MoeWeights& w, const Tensor& x,
                   ops::MoeRouting* routing_out) {
  const DType act = ctx.act;
  // Under TP an expert's output may be a partial sum (ep == 1): it stays f32 until the all-reduce.
  const DType out_dtype = partial_dtype(ctx.tp_group, act);
  Tensor logits = ops::linear(x, w.gate, DType::kF32);                               // [T, n_routed]
  ops::MoeRouting routing = ops::moe_route(logits, moe_route_options(ctx.config));  // [T, k] ids, weights
  Tensor y = ops::moe_experts(x, routing, w.experts, w.first_expert, out_dtype);    // [T, hidden] f32
  if (w.shared) ops::add_(y, ops::mlp(*w.shared, x, act, out_dtype));              // [T, hidden]
  // One all-reduce sums every rank's routed and shared parts, in f32.
  y = sum_partials(ctx.tp_group, std::move(y), DType::kF32);  // [T, hidden]

  if (routing_out) *routing_out = std::move(routing);
  return act == DType::kF32 ? y : ops::to_dtype(y, act);
}

}  // namespace mlaserve
