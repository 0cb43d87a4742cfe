#include "runtime/ops/activation.h"

#include "kernels/cpu/elementwise.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/ops/dispatch.h"
#include "runtime/ops/rows.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/activation.h"
#include "runtime/ops/cuda_rows.h"
#endif

namespace mlaserve::ops {

void silu_mul(const Tensor& gate, const Tensor& up, const Tensor& out) {
  constexpr std::string_view kOp = "silu_mul";
  const detail::Rows gr = detail::as_rows(gate, kOp, "gate");
  const detail::Rows ur = detail::as_rows(up, kOp, "up");
  const detail::Rows orr = detail::as_rows(out, kOp, "out");
  detail::ensure_float_dtype(gate, kOp, "gate");
  detail::ensure_float_dtype(up, kOp, "up");
  detail::ensure_float_dtype(out, kOp, "out");
  MLA_ENSURE(gr.rows == ur.rows && gr.cols == ur.cols && gr.rows == orr.rows &&
                 gr.cols == orr.cols,
             kInvalidArgument, "silu_mul: gate ", gate.describe(), ", up ", up.describe(),
             " and out ", out.describe(), " must have the same shape");
  const Device device =
      detail::common_device(kOp, {{"gate", &gate}, {"up", &up}, {"out", &out}});
  if (!device.is_cpu()) {
    MLA_CUDA_OP(kOp, cuda::silu_mul(detail::float_rows(gr), detail::float_rows(ur),
                                    detail::float_rows(orr), gr.rows, gr.cols,
                                    detail::stream_for(device)));
    return;
  }
  const detail::F32Rows gs = detail::stage_in(gr);
  const detail::F32Rows us = detail::stage_in(ur);
  const detail::F32Rows os = detail::stage_out(orr);
  const int64_t n = gr.cols;
  parallel_for(0, gr.rows, detail::grain_rows(n * 12), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      cpu::silu_mul(gs.f32() + i * gs.rows.ld, us.f32() + i * us.rows.ld,
                    os.f32() + i * os.rows.ld, n);
  });
  detail::finish_out(os, orr);
}

Tensor silu_mul(const Tensor& gate, const Tensor& up) {
  MLA_ENSURE(gate.defined(), kInvalidArgument, "silu_mul: gate is undefined");
  Tensor out = Tensor::empty(gate.shape(), DType::kF32, gate.device());
  silu_mul(gate, up, out);
  return out;
}

}  // namespace mlaserve::ops
