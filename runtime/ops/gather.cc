#include "runtime/ops/gather.h"

#include <cstring>

#include "runtime/core/error.h"
#include "runtime/ops/elementwise.h"

namespace mlaserve::ops {

Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  MLA_ENSURE(x.rank() == 2 && x.strides()[1] == 1 && x.device().is_cpu(), kInvalidArgument,
             "gather_rows: x must be a cpu rank-2 tensor with unit last stride, got ",
             x.describe());
  const int64_t n = x.dim(1);
  const size_t row_bytes = static_cast<size_t>(n) * dtype_size(x.dtype());
  Tensor out = Tensor::empty({static_cast<int64_t>(rows.size()), n}, x.dtype());
  const auto* src = static_cast<const uint8_t*>(x.raw_data());
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  for (size_t i = 0; i < rows.size(); ++i) {
    MLA_ENSURE(rows[i] >= 0 && rows[i] < x.dim(0), kOutOfRange, "gather_rows: row ", rows[i],
               " outside [0, ", x.dim(0), ")");
    std::memcpy(dst + i * row_bytes,
                src + static_cast<size_t>(rows[i] * x.strides()[0]) * dtype_size(x.dtype()),
                row_bytes);
  }
  return out;
}

void scatter_add_rows_(const Tensor& y, const std::vector<int64_t>& rows, const Tensor& src,
                       const std::vector<float>& weights) {
  MLA_ENSURE(y.rank() == 2 && y.is_contiguous() && y.dtype() == DType::kF32, kInvalidArgument,
             "scatter_add_rows_: y must be contiguous f32 [T, n], got ", y.describe());
  MLA_ENSURE(src.rank() == 2 && src.dim(0) == static_cast<int64_t>(rows.size()) &&
                 src.dim(1) == y.dim(1) && weights.size() == rows.size(),
             kInvalidArgument, "scatter_add_rows_: src must be [", rows.size(), ", ", y.dim(1),
             "] with one weight per row, got ", src.describe(), " and ", weights.size(),
             " weights");
  for (size_t i = 0; i < rows.size(); ++i) {
    MLA_ENSURE(rows[i] >= 0 && rows[i] < y.dim(0), kOutOfRange, "scatter_add_rows_: row ",
               rows[i], " outside [0, ", y.dim(0), ")");
    const int64_t r = static_cast<int64_t>(i);
    add_scaled_(y.slice(0, rows[i], rows[i] + 1), src.slice(0, r, r + 1), weights[i]);
  }
}

}  // namespace mlaserve::ops
