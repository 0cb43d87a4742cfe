#include "runtime/ops/rope.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/rope.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"

namespace mlaserve::ops {
namespace {

// YaRN's attention-temperature term; 1 when there is no extrapolation or m = 0.
double yarn_mscale(double factor, double m) {
  if (factor <= 1.0 || m == 0.0) return 1.0;
  return 0.1 * m * std::log(factor) + 1.0;
}

}  // namespace

RopeTable make_rope_table(const ModelConfig& config, int64_t max_positions) {
  const int64_t dim = config.qk_rope_head_dim;
  MLA_ENSURE(dim > 0 && dim % 2 == 0, kInvalidArgument, "make_rope_table: qk_rope_head_dim ",
             dim, " must be positive and even");
  MLA_ENSURE(max_positions > 0, kInvalidArgument, "make_rope_table: max_positions ",
             max_positions, " must be positive");
  MLA_ENSURE(config.rope_theta > 1.0, kInvalidArgument, "make_rope_table: rope_theta ",
             config.rope_theta, " must be > 1");
  cpu::RopeParams p;
  p.dim = dim;
  p.base = config.rope_theta;
  if (config.rope_scaling) {
    const YarnScaling& y = *config.rope_scaling;
    MLA_ENSURE(y.factor > 0 && y.original_max_position_embeddings > 0, kInvalidArgument,
               "make_rope_table: rope_scaling needs factor > 0 and "
               "original_max_position_embeddings > 0");
    p.yarn = true;
    p.factor = y.factor;
    p.original_max_positions = y.original_max_position_embeddings;
    p.beta_fast = y.beta_fast;
    p.beta_slow = y.beta_slow;
    p.mscale = yarn_mscale(y.factor, y.mscale) / yarn_mscale(y.factor, y.mscale_all_dim);
  }
  RopeTable t;
  t.rope_dim = dim;
  t.cos = Tensor::empty({max_positions, dim / 2}, DType::kF32);
  t.sin = Tensor::empty({max_positions, dim / 2}, DType::kF32);
  cpu::rope_build_table(p, max_positions, t.cos.data<float>(), t.sin.data<float>());
  return t;
}

void apply_rope(const Tensor& x, const Tensor& positions, const RopeTable& table) {
  MLA_ENSURE(table.cos.defined() && table.sin.defined(), kFailedPrecondition,
             "apply_rope: the rope table is empty (use make_rope_table)");
  MLA_ENSURE(x.defined() && x.device().is_cpu() && (x.rank() == 2 || x.rank() == 3) &&
                 (x.dtype() == DType::kF32 || x.dtype() == DType::kBF16),
             kInvalidArgument, "apply_rope: x ", x.defined() ? x.describe() : "undefined",
             " must be a [T, H, rope_dim] or [T, rope_dim] f32/bf16 CPU tensor");
  MLA_ENSURE(x.dim(-1) == table.rope_dim && x.strides().back() == 1, kInvalidArgument,
             "apply_rope: x ", x.describe(), " must have a unit-stride last dimension of ",
             table.rope_dim, " (the table's rope_dim)");
  const int64_t T = x.dim(0);
  MLA_ENSURE(positions.defined() && positions.device().is_cpu() && positions.rank() == 1 &&
                 positions.is_contiguous() && positions.dim(0) == T &&
                 (positions.dtype() == DType::kI32 || positions.dtype() == DType::kI64),
             kInvalidArgument, "apply_rope: positions ",
             positions.defined() ? positions.describe() : "undefined",
             " must be a contiguous [", T, "] i32 or i64 CPU tensor");
  std::vector<int64_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    pos[t] = positions.dtype() == DType::kI32 ? positions.data<int32_t>()[t]
                                              : positions.data<int64_t>()[t];
    MLA_ENSURE(pos[t] >= 0 && pos[t] < table.max_positions(), kOutOfRange, "apply_rope: position ",
               pos[t], " of token ", t, " is outside the rope table [0, ", table.max_positions(),
               ")");
  }
  const int64_t H = x.rank() == 3 ? x.dim(1) : 1;
  const int64_t ts = x.strides()[0];
  const int64_t hs = x.rank() == 3 ? x.strides()[1] : 0;
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
