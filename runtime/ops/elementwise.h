#pragma once
// In-place element-wise updates and dtype conversion. Tensors: same shape; f32 or bf16 each
// (computed in f32, rounded once on store); contiguous or rank-2 row-strided; all on one device,
// where the op runs (moving between devices is ops::to_device's job).
#include "runtime/core/tensor.h"

namespace mlaserve::ops {

void add_(const Tensor& y, const Tensor& x);                    // y += x (residual add)
void add_scaled_(const Tensor& y, const Tensor& x, double alpha);  // y += alpha * x
void scale_(const Tensor& y, double s);                         // y *= s
// dst = src converted (f32 <-> bf16, or a plain copy when the dtypes match).
void copy_(const Tensor& dst, const Tensor& src);
Tensor to_dtype(const Tensor& src, DType dtype);  // a new contiguous tensor on src's device

}  // namespace mlaserve::ops
