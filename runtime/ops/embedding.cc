#include "runtime/ops/embedding.h"

#include <cstring>
#include <vector>

#include "kernels/cpu/embedding.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/ops/dispatch.h"
#include "runtime/ops/rows.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/embedding.h"
#endif

namespace mlaserve::ops {

void embedding(const Tensor& ids, const Tensor& table, const Tensor& out, int64_t row_offset,
               bool zero_outside_shard) {
  constexpr std::string_view kOp = "embedding";
  MLA_ENSURE(ids.defined() && ids.rank() == 1 && ids.is_contiguous() &&
                 (ids.dtype() == DType::kI32 || ids.dtype() == DType::kI64),
             kInvalidArgument, "embedding: ids ", ids.defined() ? ids.describe() : "undefined",
             " must be a contiguous [T] i32 or i64 tensor");
  MLA_ENSURE(table.defined() && table.rank() == 2 && table.is_contiguous() &&
                 (table.dtype() == DType::kBF16 || table.dtype() == DType::kF32),
             kInvalidArgument, "embedding: table ",
             table.defined() ? table.describe() : "undefined",
             " must be a contiguous [rows, dim] bf16 or f32 tensor");
  const detail::Rows orr = detail::as_rows(out, kOp, "out");
  detail::ensure_float_dtype(out, kOp, "out");
  const Device device =
      detail::common_device(kOp, {{"ids", &ids}, {"table", &table}, {"out", &out}});
  const int64_t T = ids.dim(0), rows = table.dim(0), dim = table.dim(1);
  MLA_ENSURE(orr.rows == T && orr.cols == dim, kInvalidArgument, "embedding: out ",
             out.describe(), " must be [", T, ", ", dim, "] for ids ", ids.describe(),
             " and table ", table.describe());
  if (!device.is_cpu()) {
    // No id check here (see embedding.h): ids outside the table give zero rows on the device.
    MLA_CUDA_OP(kOp, cuda::embedding({ids.raw_data(), ids.dtype() == DType::kI64, T,
                                      table.raw_data(), table.dtype() == DType::kBF16, rows, dim,
                                      row_offset, orr.data, orr.dtype == DType::kBF16, orr.ld},
                                     detail::stream_for(device)));
    return;
  }
  std::vector<int64_t> idx(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    idx[t] = ids.dtype() == DType::kI32 ? ids.data<int32_t>()[t] : ids.data<int64_t>()[t];
    const int64_t r = idx[t] - row_offset;
    MLA_ENSURE(zero_outside_shard || (r >= 0 && r < rows), kOutOfRange, "embedding: id ", idx[t],
               " at position ", t, " is outside the table rows [", row_offset, ", ",
               row_offset + rows, ")");
  }
  const int64_t grain = detail::grain_rows(dim * 4);
  if (table.dtype() == DType::kBF16) {
    const uint16_t* tp = table.data<uint16_t>();
    parallel_for(0, T, grain, [&](int64_t b, int64_t e) {
      if (out.dtype() == DType::kF32)
        cpu::embedding_bf16_to_f32(tp, rows, dim, idx.data() + b, e - b, row_offset,
                                   static_cast<float*>(orr.data) + b * orr.ld, orr.ld);
      else
        cpu::embedding_bf16_to_bf16(tp, rows, dim, idx.data() + b, e - b, row_offset,
                                    static_cast<uint16_t*>(orr.data) + b * orr.ld, orr.ld);
    });
    return;
  }
  // f32 tables (tests, tiny models): gather through f32 and round if needed.
  const detail::F32Rows os = detail::stage_out(orr);
  const float* tp = table.data<float>();
  for (int64_t t = 0; t < T; ++t) {
    const int64_t r = idx[t] - row_offset;
    float* dst = os.f32() + t * os.rows.ld;
    if (r >= 0 && r < rows)
      std::memcpy(dst, tp + r * dim, static_cast<size_t>(dim) * sizeof(float));
    else
      std::memset(dst, 0, static_cast<size_t>(dim) * sizeof(float));
  }
  detail::finish_out(os, orr);
}

Tensor embedding(const Tensor& ids, const Tensor& table, DType out_dtype, int64_t row_offset,
                 bool zero_outside_shard) {
  MLA_ENSURE(ids.defined() && ids.rank() == 1 && table.defined() && table.rank() == 2,
             kInvalidArgument, "embedding: ids must be [T] and table [rows, dim]");
  Tensor out = Tensor::empty({ids.dim(0), table.dim(1)}, out_dtype, table.device());
  embedding(ids, table, out, row_offset, zero_outside_shard);
  return out;
}

}  // namespace mlaserve::ops
