#include "runtime/ops/elementwise.h"

#include <cstring>

#include "kernels/cpu/convert.h"
#include "kernels/cpu/elementwise.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/ops/dispatch.h"
#include "runtime/ops/rows.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/elementwise.h"
#include "runtime/ops/cuda_rows.h"
#endif

namespace mlaserve::ops {
namespace {

void ensure_same(const detail::Rows& a, const detail::Rows& b, std::string_view op,
                 const Tensor& ta, const Tensor& tb) {
  MLA_ENSURE(a.rows == b.rows && a.cols == b.cols, kInvalidArgument, op, ": ", ta.describe(),
             " and ", tb.describe(), " must have the same shape");
}

// The checked operands of an in-place update y = f(y, x) (x optional) and their device.
struct Update {
  detail::Rows y;
  detail::Rows x;
  Device device;
};

Update check_update(const Tensor& y, const Tensor* x, std::string_view op) {
  Update u;
  u.y = detail::as_rows(y, op, "y");
  detail::ensure_float_dtype(y, op, "y");
  if (x != nullptr) {
    u.x = detail::as_rows(*x, op, "x");
    detail::ensure_float_dtype(*x, op, "x");
    ensure_same(u.y, u.x, op, y, *x);
  }
  u.device = detail::common_device(op, {{"y", &y}, {"x", x}});
  return u;
}

// CPU: y (in place) = f(y, x) over rows, f32 math, bf16 staged.
template <typename F>
void update_rows(const Update& u, bool has_x, F f) {
  const detail::Rows& yr = u.y;
  const detail::F32Rows ys = detail::stage_in(yr);
  const detail::F32Rows xs = has_x ? detail::stage_in(u.x) : detail::F32Rows{};
  parallel_for(0, yr.rows, detail::grain_rows(yr.cols * 12), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      f(ys.f32() + i * ys.rows.ld, has_x ? xs.f32() + i * xs.rows.ld : nullptr, yr.cols);
  });
  if (yr.dtype == DType::kBF16) detail::finish_out(ys, yr);
}

}  // namespace

void add_(const Tensor& y, const Tensor& x) {
  constexpr std::string_view kOp = "add_";
  const Update u = check_update(y, &x, kOp);
  if (!u.device.is_cpu()) {
    MLA_CUDA_OP(kOp, cuda::add(detail::float_rows(u.y), detail::float_rows(u.x), u.y.rows,
                               u.y.cols, detail::stream_for(u.device)));
    return;
  }
  update_rows(u, true, [](float* yp, const float* xp, int64_t n) { cpu::add_inplace(yp, xp, n); });
}

void add_scaled_(const Tensor& y, const Tensor& x, double alpha) {
  constexpr std::string_view kOp = "add_scaled_";
  const Update u = check_update(y, &x, kOp);
  const float a = static_cast<float>(alpha);
  if (!u.device.is_cpu()) {
    MLA_CUDA_OP(kOp, cuda::axpy(detail::float_rows(u.y), detail::float_rows(u.x), a, u.y.rows,
                                u.y.cols, detail::stream_for(u.device)));
    return;
  }
  update_rows(u, true, [a](float* yp, const float* xp, int64_t n) { cpu::axpy(yp, xp, a, n); });
}

void scale_(const Tensor& y, double s) {
  constexpr std::string_view kOp = "scale_";
  const Update u = check_update(y, nullptr, kOp);
  const float f = static_cast<float>(s);
  if (!u.device.is_cpu()) {
    MLA_CUDA_OP(kOp, cuda::scale(detail::float_rows(u.y), f, u.y.rows, u.y.cols,
                                 detail::stream_for(u.device)));
    return;
  }
  update_rows(u, false, [f](float* yp, const float*, int64_t n) { cpu::scale_inplace(yp, f, n); });
}

void copy_(const Tensor& dst, const Tensor& src) {
  constexpr std::string_view kOp = "copy_";
  const detail::Rows dr = detail::as_rows(dst, kOp, "dst");
  const detail::Rows sr = detail::as_rows(src, kOp, "src");
  ensure_same(dr, sr, kOp, dst, src);
  const bool same = dst.dtype() == src.dtype();
  MLA_ENSURE(same || ((dst.dtype() == DType::kF32 || dst.dtype() == DType::kBF16) &&
                      (src.dtype() == DType::kF32 || src.dtype() == DType::kBF16)),
             kInvalidArgument, "copy_: cannot convert ", src.describe(), " to ", dst.describe());
  // Between devices is to_device's job (ops/transfer.h).
  const Device device = detail::common_device(kOp, {{"dst", &dst}, {"src", &src}});
  const size_t es = dtype_size(dst.dtype());
  if (!device.is_cpu()) {
    MLA_CUDA_OP(kOp, {
      cudaStream_t stream = detail::stream_for(device);
      if (same)
        cuda::copy_rows(dr.data, dr.ld, sr.data, sr.ld, dr.rows, dr.cols, es, stream);
      else
        cuda::convert(detail::float_rows(dr), detail::float_rows(sr), dr.rows, dr.cols, stream);
    });
    return;
  }
  parallel_for(0, dr.rows, detail::grain_rows(dr.cols * 6), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const char* s = static_cast<const char*>(sr.data) + i * sr.ld * dtype_size(src.dtype());
      char* d = static_cast<char*>(dr.data) + i * dr.ld * es;
      if (same) {
        std::memmove(d, s, static_cast<size_t>(dr.cols) * es);
      } else if (src.dtype() == DType::kBF16) {
        cpu::bf16_to_f32(reinterpret_cast<const uint16_t*>(s), reinterpret_cast<float*>(d), dr.cols);
      } else {
        cpu::f32_to_bf16(reinterpret_cast<const float*>(s), reinterpret_cast<uint16_t*>(d), dr.cols);
      }
    }
  });
}

Tensor to_dtype(const Tensor& src, DType dtype) {
  MLA_ENSURE(src.defined(), kInvalidArgument, "to_dtype: src is undefined");
  Tensor out = Tensor::empty(src.shape(), dtype, src.device());
  if (out.numel() > 0) copy_(out, src);
  return out;
}

}  // namespace mlaserve::ops
