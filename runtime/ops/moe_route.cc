#include "runtime/ops/moe_route.h"

#include <vector>

#include "kernels/cpu/moe_route.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/ops/dispatch.h"
#include "runtime/ops/rows.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/moe_route.h"
#endif

namespace mlaserve::ops {

MoeRouting moe_route(const Tensor& logits, const MoeRouteOptions& o) {
  constexpr std::string_view kOp = "moe_route";
  const detail::Rows lr = detail::as_rows(logits, kOp, "logits");
  MLA_ENSURE(logits.dtype() == DType::kF32 && logits.rank() <= 2, kInvalidArgument,
             "moe_route: logits ", logits.describe(), " must be [T, n_experts] f32");
  const int64_t E = lr.cols, T = logits.rank() == 1 ? 1 : lr.rows;
  MLA_ENSURE(E >= 1 && E <= 1024, kInvalidArgument, "moe_route: ", E,
             " experts (logits ", logits.describe(), "); supported: 1..1024");
  const bool grouped = o.n_group > 1;
  if (grouped) {
    MLA_ENSURE(E % o.n_group == 0 && o.topk_group >= 1 && o.topk_group <= o.n_group,
               kInvalidArgument, "moe_route: n_group ", o.n_group, " must divide ", E,
               " experts and topk_group ", o.topk_group, " must be in [1, n_group]");
  }
  const int64_t eligible = grouped ? o.topk_group * (E / o.n_group) : E;
  MLA_ENSURE(o.top_k >= 1 && o.top_k <= eligible, kInvalidArgument, "moe_route: top_k ", o.top_k,
             " must be in [1, ", eligible, "] (experts eligible after the group limit)");
  cpu::MoeRouteParams p;
  p.n_experts = E;
  p.top_k = o.top_k;
  p.n_group = grouped ? o.n_group : 1;
  p.topk_group = grouped ? o.topk_group : 1;
  p.norm_topk_prob = o.norm_topk_prob;
  p.routed_scaling_factor = static_cast<float>(o.routed_scaling_factor);

  MoeRouting r;
  const Device device = logits.device();
  r.ids = Tensor::empty({T, o.top_k}, DType::kI32, device);
  r.weights = Tensor::empty({T, o.top_k}, DType::kF32, device);
  if (!device.is_cpu()) {
    MLA_CUDA_OP(kOp, cuda::moe_route({static_cast<const float*>(lr.data), lr.ld, T, E, p.top_k,
                                      p.n_group, p.topk_group, p.norm_topk_prob,
                                      p.routed_scaling_factor, r.ids.data<int32_t>(),
                                      r.weights.data<float>()},
                                     detail::stream_for(device)));
    return r;
  }
  const auto* lp = static_cast<const float*>(lr.data);
  int32_t* ip = r.ids.data<int32_t>();
  float* wp = r.weights.data<float>();
  parallel_for(0, T, detail::grain_rows(E * 40), [&](int64_t b, int64_t e) {
    std::vector<float> scratch(static_cast<size_t>(E + p.n_group));
    for (int64_t t = b; t < e; ++t)
      cpu::moe_route(lp + t * lr.ld, 1, p, ip + t * o.top_k, wp + t * o.top_k, scratch.data());
  });
  return r;
}

}  // namespace mlaserve::ops
