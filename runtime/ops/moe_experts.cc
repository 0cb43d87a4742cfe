#include "runtime/ops/moe_experts.h"

#include <string>

#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/ops/dispatch.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/gather.h"
#include "runtime/ops/rows.h"
#include "runtime/ops/transfer.h"
#include "runtime/ops/work_count.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/moe_experts.h"
#endif

namespace mlaserve::ops {
namespace {

constexpr std::string_view kOp = "moe_experts";

struct Projection {
  Tensor MlpWeights::*member;
  const char* name;
};
constexpr Projection kProjections[] = {{&MlpWeights::gate_proj, "gate_proj"},
                                       {&MlpWeights::up_proj, "up_proj"},
                                       {&MlpWeights::down_proj, "down_proj"}};

// Every expert's projection is defined, on `device`, [rows, cols], of the first expert's dtype.
void check_experts(const std::vector<MlpWeights>& experts, int64_t hidden, Device device) {
  if (experts.empty()) return;
  const int64_t inter = experts[0].gate_proj.defined() ? experts[0].gate_proj.dim(0) : 0;
  MLA_ENSURE(inter >= 1, kInvalidArgument, "moe_experts: expert 0 gate_proj ",
             experts[0].gate_proj.defined() ? experts[0].gate_proj.describe() : "undefined",
             " must be [inter >= 1, ", hidden, "]");
  for (size_t e = 0; e < experts.size(); ++e)
    for (const Projection& p : kProjections) {
      const Tensor& w = experts[e].*p.member;
      const bool down = p.member == &MlpWeights::down_proj;
      const int64_t rows = down ? hidden : inter, cols = down ? inter : hidden;
      MLA_ENSURE(w.defined() && w.rank() == 2 && w.dim(0) == rows && w.dim(1) == cols &&
                     w.device() == device && w.dtype() == (experts[0].*p.member).dtype(),
                 kInvalidArgument, "moe_experts: expert ", e, " ", p.name, " ",
                 w.defined() ? w.describe() : "undefined", " must be [", rows, ", ", cols,
                 "] on ", device.name(), " in the dtype of expert 0's");
    }
}

// Today's CPU MoE: invert the routing on the host, run one MLP per used expert over the block
// of its tokens, scatter-add the weighted outputs in expert order.
Tensor moe_experts_cpu(const Tensor& x, const MoeRouting& routing,
                       const std::vector<MlpWeights>& experts, int64_t first_expert,
                       DType out_dtype) {
  const DType act = x.dtype();
  const int64_t T = x.dim(0), k = routing.ids.dim(1);
  // For each expert held here (local index id - first_expert), the tokens sent to it and their
  // gate weights. Tokens routed to other ranks' experts are theirs to run.
  const int32_t* ids = routing.ids.data<int32_t>();
  const float* weights = routing.weights.data<float>();
  const int64_t n_local = static_cast<int64_t>(experts.size());
  std::vector<std::vector<int64_t>> rows(experts.size());
  std::vector<std::vector<float>> row_weights(experts.size());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = ids[t * k + j] - first_expert;
      if (e < 0 || e >= n_local) continue;
      rows[e].push_back(t);
      row_weights[e].push_back(weights[t * k + j]);
    }

  // Routed experts are small (a few hundred KiB, few tokens each): one expert per thread beats
  // splitting each tiny GEMM over the pool (ops called inside parallel_for run inline). Every
  // y_e is computed the same way on any thread, and they are summed below in expert order.
  std::vector<size_t> used;
  for (size_t e = 0; e < experts.size(); ++e)
    if (!rows[e].empty()) used.push_back(e);
  std::vector<Tensor> y_e(experts.size());
  WorkCount* work = current_work();
  parallel_for_uneven(0, static_cast<int64_t>(used.size()), 1, [&](int64_t b, int64_t end) {
    CountWork counting(work);
    for (int64_t i = b; i < end; ++i) {
      const size_t e = used[i];
      Tensor x_e = gather_rows(x, rows[e]);                 // [n_e, hidden]
      y_e[e] = mlp(experts[e], x_e, act, out_dtype);        // [n_e, hidden]
    }
  });
  Tensor y = Tensor::zeros({T, x.dim(1)}, DType::kF32);  // [T, hidden] f32 accumulator
  for (size_t e : used) scatter_add_rows_(y, rows[e], y_e[e], row_weights[e]);
  return y;
}

#if MLASERVE_WITH_CUDA
// One projection of every expert as the grouped GEMMs read it: expert e's matrix at
// data + e * stride elements. Checks that the views are contiguous bf16 matrices evenly spaced
// in one storage, as upload_experts lays them out.
struct Stacked {
  const uint16_t* data = nullptr;
  int64_t stride = 0;
};
Stacked stacked(const std::vector<MlpWeights>& experts, const Projection& p) {
  const Tensor& first = experts[0].*p.member;
  MLA_ENSURE(first.dtype() == DType::kBF16, kInvalidArgument, "moe_experts: ", p.name, " ",
             first.describe(), ": the CUDA experts take bf16 weights");
  const auto* base = static_cast<const char*>(first.raw_data());
  const int64_t bytes = static_cast<int64_t>(first.nbytes());
  const int64_t stride_bytes =
      experts.size() > 1 ? static_cast<const char*>((experts[1].*p.member).raw_data()) - base
                         : bytes;
  for (size_t e = 0; e < experts.size(); ++e) {
    const Tensor& w = experts[e].*p.member;
    const auto* at = static_cast<const char*>(w.raw_data());
    MLA_ENSURE(w.is_contiguous() && w.storage() == first.storage() && stride_bytes >= bytes &&
                   stride_bytes % 2 == 0 && at == base + static_cast<int64_t>(e) * stride_bytes,
               kInvalidArgument, "moe_experts: expert ", e, " ", p.name, " ", w.describe(),
               " is not a slice of one evenly strided stack of every expert's ", p.name,
               " (the CUDA experts need the layout ops::upload_experts builds)");
  }
  return {reinterpret_cast<const uint16_t*>(base), stride_bytes / 2};
}

Tensor moe_experts_cuda(const Tensor& x, const detail::Rows& xr, const MoeRouting& routing,
                        const std::vector<MlpWeights>& experts, int64_t first_expert,
                        DType out_dtype) {
  const Device device = x.device();
  const int64_t T = xr.rows, hidden = xr.cols, k = routing.ids.dim(1), pairs = T * k;
  const int64_t n_local = static_cast<int64_t>(experts.size());
  MLA_ENSURE(n_local <= cuda::kMoeMaxLocalExperts, kInvalidArgument, "moe_experts: ", n_local,
             " local experts; the CUDA experts support up to ", cuda::kMoeMaxLocalExperts);
  cuda::MoeExpertsArgs a;
  a.x = xr.data;
  a.act_bf16 = xr.dtype == DType::kBF16;
  a.ldx = xr.ld;
  a.ids = routing.ids.data<int32_t>();
  a.weights = routing.weights.data<float>();
  a.tokens = T;
  a.top_k = k;
  a.hidden = hidden;
  a.inter = experts.empty() ? 1 : experts[0].gate_proj.dim(0);
  a.first_expert = first_expert;
  a.n_local = n_local;
  a.out_bf16 = out_dtype == DType::kBF16;
  Tensor y = Tensor::empty({T, hidden}, DType::kF32, device);  // [T, hidden]
  a.y = y.data<float>();
  // Stream-ordered temporaries: freed onto the compute stream, after the kernels that use them.
  Tensor schedule, h, out;
  if (n_local > 0 && pairs > 0) {
    const Stacked gate = stacked(experts, kProjections[0]);
    const Stacked up = stacked(experts, kProjections[1]);
    const Stacked down = stacked(experts, kProjections[2]);
    a.gate = gate.data;
    a.gate_stride = gate.stride;
    a.up = up.data;
    a.up_stride = up.stride;
    a.down = down.data;
    a.down_stride = down.stride;
    schedule = Tensor::empty({cuda::moe_schedule_ints(pairs, n_local)}, DType::kI32, device);
    h = Tensor::empty({pairs, a.inter}, x.dtype(), device);    // [pairs, inter]
    out = Tensor::empty({pairs, hidden}, out_dtype, device);  // [pairs, hidden]
    a.schedule = schedule.data<int32_t>();
    a.h = h.raw_data();
    a.out = out.raw_data();
  }
  cuda::moe_experts(a, detail::stream_for(device));
  return y;
}
#endif

}  // namespace

Tensor moe_experts(const Tensor& x, const MoeRouting& routing,
                   const std::vector<MlpWeights>& experts, int64_t first_expert,
                   DType out_dtype) {
  const detail::Rows xr = detail::as_rows(x, kOp, "x");
  detail::ensure_float_dtype(x, kOp, "x");
  MLA_ENSURE(x.rank() == 2, kInvalidArgument, "moe_experts: x ", x.describe(),
             " must be [T, hidden]");
  const int64_t T = xr.rows;
  const Tensor& ids = routing.ids;
  const Tensor& weights = routing.weights;
  MLA_ENSURE(ids.defined() && ids.rank() == 2 && ids.dim(0) == T && ids.dim(1) >= 1 &&
                 ids.dtype() == DType::kI32 && ids.is_contiguous(),
             kInvalidArgument, "moe_experts: routing.ids ",
             ids.defined() ? ids.describe() : "undefined", " must be contiguous [", T,
             ", k] i32 for x ", x.describe());
  MLA_ENSURE(weights.defined() && weights.shape() == ids.shape() &&
                 weights.dtype() == DType::kF32 && weights.is_contiguous(),
             kInvalidArgument, "moe_experts: routing.weights ",
             weights.defined() ? weights.describe() : "undefined", " must be contiguous ",
             shape_string(ids.shape()), " f32 like routing.ids");
  MLA_ENSURE(out_dtype == DType::kF32 || out_dtype == DType::kBF16, kInvalidArgument,
             "moe_experts: out_dtype ", dtype_name(out_dtype), " must be f32 or bf16");
  MLA_ENSURE(first_expert >= 0, kInvalidArgument, "moe_experts: first_expert ", first_expert,
             " must be >= 0");
  const Device device = detail::common_device(
      kOp, {{"x", &x}, {"routing.ids", &ids}, {"routing.weights", &weights}});
  check_experts(experts, xr.cols, device);
  if (!device.is_cpu())
    MLA_CUDA_OP(kOp, return moe_experts_cuda(x, xr, routing, experts, first_expert, out_dtype));
  return moe_experts_cpu(x, routing, experts, first_expert, out_dtype);
}

std::vector<MlpWeights> upload_experts(const std::vector<MlpWeights>& experts, Device device) {
  if (device.is_cpu() || experts.empty()) return experts;
  const int64_t E = static_cast<int64_t>(experts.size());
  Tensor stacks[3];
  for (int i = 0; i < 3; ++i) {
    const Projection& p = kProjections[i];
    const Tensor& first = experts[0].*p.member;
    MLA_ENSURE(first.defined() && first.rank() == 2, kInvalidArgument, "upload_experts: expert 0 ",
               p.name, " must be a matrix, got ", first.defined() ? first.describe() : "undefined");
    // Stacked on the host, then one copy: the device never holds a per-expert copy.
    Tensor host = Tensor::empty({E, first.dim(0), first.dim(1)}, first.dtype());
    for (int64_t e = 0; e < E; ++e) {
      const Tensor& w = experts[static_cast<size_t>(e)].*p.member;
      MLA_ENSURE(w.defined() && w.shape() == first.shape() && w.dtype() == first.dtype(),
                 kInvalidArgument, "upload_experts: expert ", e, " ", p.name, " ",
                 w.defined() ? w.describe() : "undefined", " differs from expert 0's ",
                 first.describe());
      copy_(host.select(0, e), w.device().is_cpu() ? w : to_cpu(w));
    }
    stacks[i] = to_device(host, device);
  }
  std::vector<MlpWeights> out;
  out.reserve(experts.size());
  for (int64_t e = 0; e < E; ++e)
    out.push_back({stacks[0].select(0, e), stacks[1].select(0, e), stacks[2].select(0, e)});
  return out;
}

}  // namespace mlaserve::ops
