#include "runtime/ops/rows.h"

#include <algorithm>

#include "kernels/cpu/convert.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"

namespace mlaserve::ops::detail {

Rows as_rows(const Tensor& t, std::string_view op, std::string_view what) {
  MLA_ENSURE(t.defined(), kInvalidArgument, op, ": ", what, " is undefined");
  MLA_ENSURE(t.rank() >= 1, kInvalidArgument, op, ": ", what, " ", t.describe(),
             " must have at least one dimension");
  Rows r;
  r.data = t.raw_data();
  r.dtype = t.dtype();
  r.cols = t.dim(-1);
  r.rows = r.cols == 0 ? 0 : t.numel() / r.cols;
  if (t.rank() == 1) r.rows = 1;
  r.ld = r.cols;
  if (t.is_contiguous()) return r;
  MLA_ENSURE(t.rank() == 2 && (t.strides()[1] == 1 || t.dim(1) == 1), kInvalidArgument, op, ": ",
             what, " ", t.describe(), " with strides ", shape_string(t.strides()),
             " must be contiguous or rank 2 with unit stride in the last dimension");
  r.ld = t.strides()[0];
  return r;
}

void ensure_float_dtype(const Tensor& t, std::string_view op, std::string_view what) {
  MLA_ENSURE(t.dtype() == DType::kF32 || t.dtype() == DType::kBF16, kInvalidArgument, op, ": ",
             what, " ", t.describe(), " must be f32 or bf16");
}

F32Rows stage_in(const Rows& r) {
  F32Rows s{r, {}};
  if (r.dtype == DType::kF32) return s;
  s.holder = Tensor::empty({r.rows, r.cols}, DType::kF32);
  float* dst = s.holder.data<float>();
  const auto* src = static_cast<const uint16_t*>(r.data);
  parallel_for(0, r.rows, grain_rows(r.cols * 6), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) cpu::bf16_to_f32(src + i * r.ld, dst + i * r.cols, r.cols);
  });
  s.rows = Rows{dst, r.rows, r.cols, r.cols, DType::kF32};
  return s;
}

F32Rows stage_out(const Rows& out) {
  F32Rows s{out, {}};
  if (out.dtype == DType::kF32) return s;
  s.holder = Tensor::empty({out.rows, out.cols}, DType::kF32);
  s.rows = Rows{s.holder.raw_data(), out.rows, out.cols, out.cols, DType::kF32};
  return s;
}

void finish_out(const F32Rows& staged, const Rows& out) {
  if (out.dtype == DType::kF32) return;
  const float* src = staged.f32();
  auto* dst = static_cast<uint16_t*>(out.data);
  parallel_for(0, out.rows, grain_rows(out.cols * 6), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) cpu::f32_to_bf16(src + i * out.cols, dst + i * out.ld, out.cols);
  });
}

int64_t grain_rows(int64_t bytes_per_row, int64_t min_bytes) {
  return std::max<int64_t>(1, (min_bytes + bytes_per_row - 1) / std::max<int64_t>(1, bytes_per_row));
}

}  // namespace mlaserve::ops::detail
