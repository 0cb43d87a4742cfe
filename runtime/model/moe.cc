#include "runtime/model/moe.h"

#include <vector>

#include "runtime/core/thread_pool.h"
#include "runtime/model/model_parallel.h"
#include "runtime/ops/activation.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/gather.h"
#include "runtime/ops/linear.h"
#include "runtime/ops/work_count.h"

namespace mlaserve {

Tensor mlp_forward(const MlpWeights& w, const Tensor& x, DType act, DType out_dtype) {
  Tensor gate = ops::linear(x, w.gate_proj, act);    // [T, inter]
  Tensor up = ops::linear(x, w.up_proj, act);        // [T, inter]
  ops::silu_mul(gate, up, gate);                     // [T, inter]
  return ops::linear(gate, w.down_proj, out_dtype);  // [T, hidden]
}

Tensor dense_mlp_forward(const StepContext& ctx, const MlpWeights& w, const Tensor& x) {
  Tensor out = mlp_forward(w, x, ctx.act, partial_dtype(ctx.tp_group, ctx.act));  // [T, hidden]
  return sum_partials(ctx.tp_group, std::move(out), ctx.act);                     // [T, hidden]
}

Tensor moe_forward(const StepContext& ctx, const MoeWeights& w, const Tensor& x,
                   ops::MoeRouting* routing_out) {
  const ModelConfig& config = ctx.config;
  const DType act = ctx.act;
  const int64_t T = x.dim(0), k = config.num_experts_per_tok;
  Tensor logits = ops::linear(x, w.gate, DType::kF32);      // [T, n_routed]
  ops::MoeRouting routing = ops::moe_route(logits, config);  // ids, weights: [T, k]

  // Invert the routing: for each expert held here (local index id - first_expert), the tokens
  // sent to it and their gate weights. Tokens routed to other ranks' experts are theirs to run.
  const int32_t* ids = routing.ids.data<int32_t>();
  const float* weights = routing.weights.data<float>();
  const int64_t n_local = static_cast<int64_t>(w.experts.size());
  std::vector<std::vector<int64_t>> rows(w.experts.size());
  std::vector<std::vector<float>> row_weights(w.experts.size());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = ids[t * k + j] - w.first_expert;
      if (e < 0 || e >= n_local) continue;
      rows[e].push_back(t);
      row_weights[e].push_back(weights[t * k + j]);
    }

  // Routed experts are small (a few hundred KiB, few tokens each): one expert per thread beats
  // splitting each tiny GEMM over the pool (ops called inside parallel_for run inline). Every
  // y_e is computed the same way on any thread, and they are summed below in expert order.
  std::vector<size_t> used;
  for (size_t e = 0; e < w.experts.size(); ++e)
    if (!rows[e].empty()) used.push_back(e);
  std::vector<Tensor> y_e(w.experts.size());
  // Under TP an expert's output may be a partial sum (ep == 1): it stays f32 until the all-reduce.
  const DType out_dtype = partial_dtype(ctx.tp_group, act);
  ops::WorkCount* work = ops::current_work();
  parallel_for_uneven(0, static_cast<int64_t>(used.size()), 1, [&](int64_t b, int64_t end) {
    ops::CountWork counting(work);
    for (int64_t i = b; i < end; ++i) {
      const size_t e = used[i];
      Tensor x_e = ops::gather_rows(x, rows[e]);              // [n_e, hidden]
      y_e[e] = mlp_forward(w.experts[e], x_e, act, out_dtype);  // [n_e, hidden]
    }
  });
  Tensor y = Tensor::zeros({T, config.hidden_size}, DType::kF32);  // [T, hidden] f32 accumulator
  for (size_t e : used) ops::scatter_add_rows_(y, rows[e], y_e[e], row_weights[e]);
  if (w.shared)
    ops::add_(y, mlp_forward(*w.shared, x, act, out_dtype));  // [T, hidden]
  // One all-reduce sums every rank's routed and shared parts, in f32.
  y = sum_partials(ctx.tp_group, std::move(y), DType::kF32);  // [T, hidden]

  if (routing_out) *routing_out = std::move(routing);
  return act == DType::kF32 ? y : ops::to_dtype(y, act);
}

}  // namespace mlaserve
