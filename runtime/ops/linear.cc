#include "runtime/ops/linear.h"

#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemv_bf16.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/ops/dispatch.h"
#include "runtime/ops/rows.h"
#include "runtime/ops/work_count.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/context.h"
#include "kernels/cuda/linear.h"
#endif

namespace mlaserve::ops {

using detail::Rows;

void linear(const Tensor& x, const Tensor& w, const Tensor& y) {
  constexpr std::string_view kOp = "linear";
  const Rows xr = detail::as_rows(x, kOp, "x");
  const Rows yr = detail::as_rows(y, kOp, "y");
  MLA_ENSURE(w.defined(), kInvalidArgument, "linear: w is undefined");
  MLA_ENSURE(w.rank() == 2 && w.is_contiguous(), kInvalidArgument, "linear: w ", w.describe(),
             " must be a contiguous [n, k] matrix");
  MLA_ENSURE(w.dtype() == DType::kBF16 || w.dtype() == DType::kF32, kInvalidArgument,
             "linear: w ", w.describe(), " must be bf16 or f32");
  detail::ensure_float_dtype(x, kOp, "x");
  detail::ensure_float_dtype(y, kOp, "y");
  const Device device = detail::common_device(kOp, {{"x", &x}, {"w", &w}, {"y", &y}});
  const int64_t n = w.dim(0), k = w.dim(1), m = xr.rows;
  MLA_ENSURE(xr.cols == k, kInvalidArgument, "linear: x ", x.describe(), " has ", xr.cols,
             " features but w ", w.describe(), " expects ", k);
  MLA_ENSURE(yr.cols == n && yr.rows == m,
             kInvalidArgument, "linear: y ", y.describe(), " must be [", m, ", ", n,
             "] for x ", x.describe(), " and w ", w.describe());
  if (m == 0 || n == 0) return;
  // Every kernel below reads each weight row once per call, whatever m is.
  count_work(2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k),
             static_cast<double>(w.nbytes()));

  if (!device.is_cpu()) {
    MLA_CUDA_OP(kOp, cuda::linear({xr.data, xr.dtype == DType::kBF16, xr.ld, w.raw_data(),
                                   w.dtype() == DType::kBF16, yr.data, yr.dtype == DType::kBF16,
                                   yr.ld, m, n, k},
                                  cuda::cublas_handle(device.index), detail::stream_for(device)));
    return;
  }
  const detail::F32Rows xs = detail::stage_in(xr);
  const detail::F32Rows ys = detail::stage_out(yr);
  const float* xp = xs.f32();
  float* yp = ys.f32();
  const int64_t ldx = xs.rows.ld, ldy = ys.rows.ld;

  if (w.dtype() == DType::kF32) {
    const float* wp = w.data<float>();
    parallel_for(0, n, cpu::kGemmPanelRows, [&](int64_t b, int64_t e) {
      cpu::gemm_f32(xp, ldx, m, wp, k, k, yp, ldy, b, e);
    });
  } else {
    const uint16_t* wp = w.data<uint16_t>();
    if (m == 1) {
      // Weight bytes dominate: a chunk should stream at least ~32 KiB to amortise the dispatch.
      const int64_t grain = (detail::grain_rows(k * 2, 32 * 1024) + 7) / 8 * 8;
      parallel_for(0, n, grain, [&](int64_t b, int64_t e) {
        cpu::gemv_bf16(wp, k, k, xp, yp, b, e);
      });
    } else if (m <= cpu::kSmallMMax) {
      const int64_t grain = (detail::grain_rows(k * 2, 16 * 1024) + 2) / 3 * 3;
      parallel_for(0, n, grain, [&](int64_t b, int64_t e) {
        cpu::gemm_bf16_small_m(xp, ldx, m, wp, k, k, yp, ldy, b, e);
      });
    } else {
      // Chunk bounds are multiples of the panel size, so every panel — and thus every output —
      // is computed the same way for any thread count.
      parallel_for(0, n, cpu::kGemmPanelRows, [&](int64_t b, int64_t e) {
        thread_local std::vector<float> scratch;
        const size_t need = static_cast<size_t>(cpu::kGemmPanelRows * k);
        if (scratch.size() < need) scratch.resize(need);
        cpu::gemm_bf16(xp, ldx, m, wp, k, k, yp, ldy, b, e, scratch.data());
      });
    }
  }
  detail::finish_out(ys, yr);
}

Tensor linear(const Tensor& x, const Tensor& w, DType out_dtype) {
  MLA_ENSURE(x.defined() && x.rank() >= 1 && w.defined() && w.rank() == 2, kInvalidArgument,
             "linear: x ", x.describe(), " and w ", w.describe(), " must be [..., k] and [n, k]");
  Shape shape = x.shape();
  shape.back() = w.dim(0);
  Tensor y = Tensor::empty(shape, out_dtype, x.device());
  linear(x, w, y);
  return y;
}

}  // namespace mlaserve::ops
