#pragma once
// Inputs for the parity cases of the small ops (embedding, rope, element-wise, gather): index
// tensors and fresh copies for in-place ops.
#include <cstring>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/ops/transfer.h"

namespace mlaserve::ops::testing {

// A CPU [values.size()] i32 or i64 tensor holding `values`.
inline Tensor index_tensor(const std::vector<int64_t>& values, DType dtype) {
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, dtype);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kI32) t.data<int32_t>()[i] = static_cast<int32_t>(values[i]);
    else t.data<int64_t>()[i] = values[i];
  }
  return t;
}

// A tensor an in-place op may modify: OpParity::run hands the CPU case its inputs themselves
// (and copies them to the device afterwards), so the CPU case works on a clone; on a device the
// input is already a fresh copy.
inline Tensor fresh(const Tensor& in) { return in.device().is_cpu() ? in.clone() : in; }

// A zero-filled tensor on `device` (Tensor::zeros is CPU-only).
inline Tensor zeros_on(Device device, const Shape& shape, DType dtype) {
  return ops::zeros(shape, dtype, device);
}

}  // namespace mlaserve::ops::testing
