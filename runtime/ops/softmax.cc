#include "runtime/ops/softmax.h"

#include "kernels/cpu/softmax.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/ops/dispatch.h"
#include "runtime/ops/rows.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/softmax.h"
#endif

namespace mlaserve::ops {

void softmax_rows(const Tensor& x, const Tensor& out) {
  constexpr std::string_view kOp = "softmax_rows";
  const detail::Rows xr = detail::as_rows(x, kOp, "x");
  const detail::Rows orr = detail::as_rows(out, kOp, "out");
  MLA_ENSURE(x.dtype() == DType::kF32 && out.dtype() == DType::kF32, kInvalidArgument,
             "softmax_rows: x ", x.describe(), " and out ", out.describe(), " must be f32");
  MLA_ENSURE(xr.rows == orr.rows && xr.cols == orr.cols, kInvalidArgument, "softmax_rows: out ",
             out.describe(), " does not match x ", x.describe());
  const Device device = detail::common_device(kOp, {{"x", &x}, {"out", &out}});
  if (!device.is_cpu()) {
    MLA_CUDA_OP(kOp, cuda::softmax_rows(static_cast<const float*>(xr.data), xr.ld,
                                        static_cast<float*>(orr.data), orr.ld, xr.rows, xr.cols,
                                        detail::stream_for(device)));
    return;
  }
  const auto* xp = static_cast<const float*>(xr.data);
  auto* op = static_cast<float*>(orr.data);
  parallel_for(0, xr.rows, detail::grain_rows(xr.cols * 8), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) cpu::softmax_row(xp + i * xr.ld, op + i * orr.ld, xr.cols);
  });
}

}  // namespace mlaserve::ops
