#include "runtime/ops/elementwise.h"

#include <cstring>

#include "kernels/cpu/convert.h"
#include "kernels/cpu/elementwise.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/ops/rows.h"

namespace mlaserve::ops {
namespace {

void ensure_same(const detail::Rows& a, const detail::Rows& b, std::string_view op,
                 const Tensor& ta, const Tensor& tb) {
  MLA_ENSURE(a.rows == b.rows && a.cols == b.cols, kInvalidArgument, op, ": ", ta.describe(),
             " and ", tb.describe(), " must have the same shape");
}

// y (in place) = f(y, x) over rows, f32 math, bf16 staged.
template <typename F>
void update_rows(const Tensor& y, const Tensor* x, std::string_view op, F f) {
  const detail::Rows yr = detail::as_rows(y, op, "y");
  detail::ensure_float_dtype(y, op, "y");
  detail::Rows xr{};
  if (x != nullptr) {
    xr = detail::as_rows(*x, op, "x");
    detail::ensure_float_dtype(*x, op, "x");
    ensure_same(yr, xr, op, y, *x);
  }
  const detail::F32Rows ys = detail::stage_in(yr);
  const detail::F32Rows xs = x != nullptr ? detail::stage_in(xr) : detail::F32Rows{};
  parallel_for(0, yr.rows, detail::grain_rows(yr.cols * 12), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      f(ys.f32() + i * ys.rows.ld, x != nullptr ? xs.f32() + i * xs.rows.ld : nullptr, yr.cols);
  });
  if (yr.dtype == DType::kBF16) detail::finish_out(ys, yr);
}

}  // namespace

void add_(const Tensor& y, const Tensor& x) {
  update_rows(y, &x, "add_", [](float* yp, const float* xp, int64_t n) { cpu::add_inplace(yp, xp, n); });
}

void add_scaled_(const Tensor& y, const Tensor& x, double alpha) {
  const float a = static_cast<float>(alpha);
  update_rows(y, &x, "add_scaled_",
              [a](float* yp, const float* xp, int64_t n) { cpu::axpy(yp, xp, a, n); });
}

void scale_(const Tensor& y, double s) {
  const float f = static_cast<float>(s);
  update_rows(y, nullptr, "scale_",
              [f](float* yp, const float*, int64_t n) { cpu::scale_inplace(yp, f, n); });
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
  const size_t es = dtype_size(dst.dtype());
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
  Tensor out = Tensor::empty(src.shape(), dtype);
  if (out.numel() > 0) copy_(out, src);
  return out;
}

}  // namespace mlaserve::ops
