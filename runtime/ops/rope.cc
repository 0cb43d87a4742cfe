#include "runtime/ops/rope.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/rope.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/ops/dispatch.h"
#include "runtime/ops/transfer.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/rope.h"
#endif

namespace mlaserve::ops {

RopeTable make_rope_table(const RopeOptions& options, int64_t max_positions) {
  const int64_t dim = options.dim;
  MLA_ENSURE(dim > 0 && dim % 2 == 0, kInvalidArgument, "make_rope_table: rope dim ", dim,
             " must be positive and even");
  MLA_ENSURE(max_positions > 0, kInvalidArgument, "make_rope_table: max_positions ",
             max_positions, " must be positive");
  MLA_ENSURE(options.base > 1.0, kInvalidArgument, "make_rope_table: base (rope_theta) ",
             options.base, " must be > 1");
  MLA_ENSURE(!options.yarn || (options.factor > 0 && options.original_max_positions > 0),
             kInvalidArgument,
             "make_rope_table: YaRN needs factor > 0 and original_max_positions > 0, got ",
             options.factor, " and ", options.original_max_positions);
  cpu::RopeParams p;
  p.dim = dim;
  p.base = options.base;
  if (options.yarn) {
    p.yarn = true;
    p.factor = options.factor;
    p.original_max_positions = options.original_max_positions;
    p.beta_fast = options.beta_fast;
    p.beta_slow = options.beta_slow;
    p.mscale = options.mscale;
  }
  RopeTable t;
  t.rope_dim = dim;
  t.cos = Tensor::empty({max_positions, dim / 2}, DType::kF32);
  t.sin = Tensor::empty({max_positions, dim / 2}, DType::kF32);
  cpu::rope_build_table(p, max_positions, t.cos.data<float>(), t.sin.data<float>());
  return t;
}

RopeTable to_device(const RopeTable& table, Device device) {
  MLA_ENSURE(table.cos.defined() && table.sin.defined(), kFailedPrecondition,
             "to_device: the rope table is empty (use make_rope_table)");
  RopeTable out;
  out.rope_dim = table.rope_dim;
  out.cos = to_device(table.cos, device);
  out.sin = to_device(table.sin, device);
  return out;
}

void apply_rope(const Tensor& x, const Tensor& positions, const RopeTable& table) {
  constexpr std::string_view kOp = "apply_rope";
  MLA_ENSURE(table.cos.defined() && table.sin.defined(), kFailedPrecondition,
             "apply_rope: the rope table is empty (use make_rope_table)");
  MLA_ENSURE(x.defined() && (x.rank() == 2 || x.rank() == 3) &&
                 (x.dtype() == DType::kF32 || x.dtype() == DType::kBF16),
             kInvalidArgument, "apply_rope: x ", x.defined() ? x.describe() : "undefined",
             " must be a [T, H, rope_dim] or [T, rope_dim] f32/bf16 tensor");
  MLA_ENSURE(x.dim(-1) == table.rope_dim && x.strides().back() == 1, kInvalidArgument,
             "apply_rope: x ", x.describe(), " must have a unit-stride last dimension of ",
             table.rope_dim, " (the table's rope_dim)");
  const int64_t T = x.dim(0);
  MLA_ENSURE(positions.defined() && positions.rank() == 1 && positions.is_contiguous() &&
                 positions.dim(0) == T &&
                 (positions.dtype() == DType::kI32 || positions.dtype() == DType::kI64),
             kInvalidArgument, "apply_rope: positions ",
             positions.defined() ? positions.describe() : "undefined",
             " must be a contiguous [", T, "] i32 or i64 tensor");
  MLA_ENSURE(table.cos.is_contiguous() && table.sin.is_contiguous() &&
                 table.cos.dtype() == DType::kF32 && table.sin.dtype() == DType::kF32 &&
                 table.sin.shape() == table.cos.shape() && table.cos.rank() == 2 &&
                 table.cos.dim(1) == table.rope_dim / 2,
             kInvalidArgument, "apply_rope: the table's cos ", table.cos.describe(), " and sin ",
             table.sin.describe(), " must be contiguous f32 [positions, ", table.rope_dim / 2,
             "]");
  const Device device = detail::common_device(
      kOp, {{"x", &x}, {"positions", &positions}, {"table.cos", &table.cos},
            {"table.sin", &table.sin}});
  const int64_t H = x.rank() == 3 ? x.dim(1) : 1;
  const int64_t ts = x.strides()[0];
  const int64_t hs = x.rank() == 3 ? x.strides()[1] : 0;
  if (!device.is_cpu()) {
    // No position check here (see rope.h): out-of-table positions are left unrotated.
    MLA_CUDA_OP(kOp, cuda::rope({x.raw_data(), x.dtype() == DType::kBF16, T, H, table.rope_dim,
                                 ts, hs, positions.raw_data(), positions.dtype() == DType::kI64,
                                 table.cos.data<float>(), table.sin.data<float>(),
                                 table.max_positions()},
                                detail::stream_for(device)));
    return;
  }
  std::vector<int64_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    pos[t] = positions.dtype() == DType::kI32 ? positions.data<int32_t>()[t]
                                              : positions.data<int64_t>()[t];
    MLA_ENSURE(pos[t] >= 0 && pos[t] < table.max_positions(), kOutOfRange, "apply_rope: position ",
               pos[t], " of token ", t, " is outside the rope table [0, ", table.max_positions(),
               ")");
  }
  const float* c = table.cos.data<float>();
  const float* s = table.sin.data<float>();
  const int64_t grain = std::max<int64_t>(1, 256 / std::max<int64_t>(1, H));
  parallel_for(0, T, grain, [&](int64_t b, int64_t e) {
    if (x.dtype() == DType::kF32)
      cpu::rope_apply_f32(x.data<float>() + b * ts, e - b, H, table.rope_dim, ts, hs,
                          pos.data() + b, c, s);
    else
      cpu::rope_apply_bf16(x.data<uint16_t>() + b * ts, e - b, H, table.rope_dim, ts, hs,
                           pos.data() + b, c, s);
  });
}

}  // namespace mlaserve::ops
