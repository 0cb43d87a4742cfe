#pragma once
// Internal to runtime/ops, CUDA builds only: a checked detail::Rows view handed to the
// element-wise CUDA kernels as their FloatRows operand (kernels/cuda/float_rows.h).
#if MLASERVE_WITH_CUDA
#include "kernels/cuda/float_rows.h"
#include "runtime/ops/rows.h"

namespace mlaserve::ops::detail {

inline cuda::FloatRows float_rows(const Rows& r) {
  return cuda::FloatRows{r.data, r.dtype == DType::kBF16, r.ld};
}

}  // namespace mlaserve::ops::detail
#endif
