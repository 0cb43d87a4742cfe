#include "runtime/ops/gather.h"

#include <cstring>

#include "runtime/core/error.h"
#include "runtime/ops/dispatch.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/rows.h"
#include "runtime/ops/transfer.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/gather.h"
#include "runtime/ops/cuda_rows.h"
#endif

namespace mlaserve::ops {
namespace {

void check_rows(std::string_view op, const std::vector<int64_t>& rows, int64_t limit) {
  for (size_t i = 0; i < rows.size(); ++i)
    MLA_ENSURE(rows[i] >= 0 && rows[i] < limit, kOutOfRange, op, ": row ", rows[i], " at ", i,
               " outside [0, ", limit, ")");
}

// `values` as a CPU tensor, to upload.
template <typename T>
Tensor host_tensor(const std::vector<T>& values, DType dtype) {
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, dtype);
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}

#if MLASERVE_WITH_CUDA
// The inverse of `rows` for the device scatter-add (kernels/cuda/gather.h): the distinct
// destination rows ascending, and for each the i that add into it, ascending — a stable counting
// sort on the host, which has `rows` anyway. Packed [targets | offsets | order] for one upload.
struct ScatterPlan {
  int64_t n_targets = 0;
  std::vector<int64_t> packed;
};

ScatterPlan plan_scatter(const std::vector<int64_t>& rows, int64_t y_rows) {
  std::vector<int64_t> count(static_cast<size_t>(y_rows), 0);
  for (int64_t r : rows) ++count[static_cast<size_t>(r)];
  ScatterPlan p;
  for (int64_t c : count) p.n_targets += c > 0 ? 1 : 0;
  const size_t nt = static_cast<size_t>(p.n_targets);
  p.packed.assign(nt + (nt + 1) + rows.size(), 0);
  int64_t* targets = p.packed.data();
  int64_t* offsets = targets + nt;
  int64_t* order = offsets + nt + 1;
  std::vector<int64_t> slot(static_cast<size_t>(y_rows), -1);  // row -> first index in order
  size_t k = 0;
  int64_t next = 0;
  for (int64_t r = 0; r < y_rows; ++r) {
    if (count[static_cast<size_t>(r)] == 0) continue;
    targets[k] = r;
    offsets[k] = next;
    slot[static_cast<size_t>(r)] = next;
    next += count[static_cast<size_t>(r)];
    ++k;
  }
  offsets[nt] = next;
  for (size_t i = 0; i < rows.size(); ++i)
    order[slot[static_cast<size_t>(rows[i])]++] = static_cast<int64_t>(i);
  return p;
}
#endif

}  // namespace

Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  constexpr std::string_view kOp = "gather_rows";
  MLA_ENSURE(x.defined() && x.rank() == 2, kInvalidArgument, "gather_rows: x must be rank 2, got ",
             x.defined() ? x.describe() : "undefined");
  check_rows(kOp, rows, x.dim(0));
  return gather_rows_at(x, to_device(host_tensor(rows, DType::kI64), x.device()));
}

Tensor gather_rows_at(const Tensor& x, const Tensor& rows) {
  constexpr std::string_view kOp = "gather_rows";
  MLA_ENSURE(x.defined() && x.rank() == 2 && x.strides()[1] == 1, kInvalidArgument,
             "gather_rows: x must be a rank-2 tensor with unit last stride, got ",
             x.defined() ? x.describe() : "undefined");
  MLA_ENSURE(rows.defined() && rows.rank() == 1 && rows.is_contiguous() &&
                 rows.dtype() == DType::kI64,
             kInvalidArgument, "gather_rows: rows must be a contiguous [m] i64 tensor, got ",
             rows.defined() ? rows.describe() : "undefined");
  detail::common_device(kOp, {{"x", &x}, {"rows", &rows}});
  const int64_t n = x.dim(1), m = rows.dim(0);
  const size_t es = dtype_size(x.dtype());
  Tensor out = Tensor::empty({m, n}, x.dtype(), x.device());
  if (!x.device().is_cpu()) {
    if (m == 0 || n == 0) return out;
    MLA_CUDA_OP(kOp, cuda::gather_rows(x.raw_data(), x.dim(0), x.strides()[0],
                                       rows.data<int64_t>(), m, out.raw_data(), n, es,
                                       detail::stream_for(x)));
    return out;
  }
  const int64_t* index = rows.data<int64_t>();
  for (int64_t i = 0; i < m; ++i)
    MLA_ENSURE(index[i] >= 0 && index[i] < x.dim(0), kOutOfRange, kOp, ": row ", index[i], " at ",
               i, " outside [0, ", x.dim(0), ")");
  const size_t row_bytes = static_cast<size_t>(n) * es;
  const auto* src = static_cast<const uint8_t*>(x.raw_data());
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  for (int64_t i = 0; i < m; ++i) {
    std::memcpy(dst + i * row_bytes, src + static_cast<size_t>(index[i] * x.strides()[0]) * es,
                row_bytes);
  }
  return out;
}

void scatter_add_rows_(const Tensor& y, const std::vector<int64_t>& rows, const Tensor& src,
                       const std::vector<float>& weights) {
  constexpr std::string_view kOp = "scatter_add_rows_";
  MLA_ENSURE(y.defined() && y.rank() == 2 && y.is_contiguous() && y.dtype() == DType::kF32,
             kInvalidArgument, "scatter_add_rows_: y must be contiguous f32 [T, n], got ",
             y.defined() ? y.describe() : "undefined");
  MLA_ENSURE(src.defined() && src.rank() == 2 &&
                 src.dim(0) == static_cast<int64_t>(rows.size()) && src.dim(1) == y.dim(1) &&
                 weights.size() == rows.size(),
             kInvalidArgument, "scatter_add_rows_: src must be [", rows.size(), ", ", y.dim(1),
             "] with one weight per row, got ", src.defined() ? src.describe() : "undefined",
             " and ", weights.size(), " weights");
  [[maybe_unused]] const detail::Rows sr = detail::as_rows(src, kOp, "src");
  detail::ensure_float_dtype(src, kOp, "src");
  const Device device = detail::common_device(kOp, {{"y", &y}, {"src", &src}});
  check_rows(kOp, rows, y.dim(0));
  if (!device.is_cpu()) {
    if (rows.empty() || y.dim(1) == 0) return;
    MLA_CUDA_OP(kOp, {
      const ScatterPlan plan = plan_scatter(rows, y.dim(0));
      const Tensor packed = to_device(host_tensor(plan.packed, DType::kI64), device);
      const Tensor w = to_device(host_tensor(weights, DType::kF32), device);
      const int64_t* targets = packed.data<int64_t>();
      const int64_t nt = plan.n_targets;
      cuda::scatter_add_rows({y.data<float>(), y.dim(0), y.dim(1), detail::float_rows(sr),
                              src.dim(0), w.data<float>(), targets, targets + nt,
                              targets + 2 * nt + 1, nt},
                             detail::stream_for(device));
    });
    return;
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t r = static_cast<int64_t>(i);
    add_scaled_(y.slice(0, rows[i], rows[i] + 1), src.slice(0, r, r + 1), weights[i]);
  }
}

}  // namespace mlaserve::ops
