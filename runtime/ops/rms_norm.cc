#include "runtime/ops/rms_norm.h"

#include "kernels/cpu/rms_norm.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/ops/dispatch.h"
#include "runtime/ops/rows.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/rmsnorm.h"
#endif

namespace mlaserve::ops {

void rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& out) {
  constexpr std::string_view kOp = "rms_norm";
  const detail::Rows xr = detail::as_rows(x, kOp, "x");
  const detail::Rows orr = detail::as_rows(out, kOp, "out");
  detail::ensure_float_dtype(x, kOp, "x");
  detail::ensure_float_dtype(out, kOp, "out");
  detail::ensure_float_dtype(weight, kOp, "weight");
  const Device device = detail::common_device(kOp, {{"x", &x}, {"weight", &weight}, {"out", &out}});
  MLA_ENSURE(weight.rank() == 1 && weight.is_contiguous() && weight.dim(0) == xr.cols,
             kInvalidArgument, "rms_norm: weight ", weight.describe(), " must be [", xr.cols,
             "] for x ", x.describe());
  MLA_ENSURE(orr.rows == xr.rows && orr.cols == xr.cols, kInvalidArgument, "rms_norm: out ",
             out.describe(), " does not match x ", x.describe());
  MLA_ENSURE(eps >= 0, kInvalidArgument, "rms_norm: eps ", eps, " must be >= 0");
  if (!device.is_cpu()) {
    MLA_CUDA_OP(kOp, cuda::rms_norm({xr.data, xr.dtype == DType::kBF16, xr.ld, weight.raw_data(),
                                     weight.dtype() == DType::kBF16, orr.data,
                                     orr.dtype == DType::kBF16, orr.ld, xr.rows, xr.cols,
                                     static_cast<float>(eps)},
                                    detail::stream_for(device)));
    return;
  }
  const detail::F32Rows xs = detail::stage_in(xr);
  const detail::F32Rows os = detail::stage_out(orr);
  const float* xp = xs.f32();
  float* op = os.f32();
  const int64_t n = xr.cols, ldx = xs.rows.ld, ldo = os.rows.ld;
  const float e = static_cast<float>(eps);
  parallel_for(0, xr.rows, detail::grain_rows(n * 8), [&](int64_t b, int64_t end) {
    for (int64_t i = b; i < end; ++i) {
      if (weight.dtype() == DType::kF32)
        cpu::rms_norm_f32w(xp + i * ldx, weight.data<float>(), op + i * ldo, n, e);
      else
        cpu::rms_norm_bf16w(xp + i * ldx, weight.data<uint16_t>(), op + i * ldo, n, e);
    }
  });
  detail::finish_out(os, orr);
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  MLA_ENSURE(x.defined(), kInvalidArgument, "rms_norm: x is undefined");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  rms_norm(x, weight, eps, out);
  return out;
}

}  // namespace mlaserve::ops
