#pragma once
// Internal to runtime/ops: how an op, once its contract is checked, reaches its device's kernel.
//
//   if (x.device().is_cpu()) { ... kernels/cpu ... }
//   else { MLA_CUDA_OP(kOp, cuda::kernel(..., detail::stream_for(x))); }
//
// MLA_CUDA_OP expands to its statement in builds with the CUDA backend (MLASERVE_WITH_CUDA) and
// to a kUnimplemented error elsewhere; a CUDA tensor cannot exist in such a build anyway (no
// allocator is registered), so the error marks a path that is never taken.
#include <initializer_list>
#include <string_view>
#include <utility>

#include "runtime/core/tensor.h"

#if MLASERVE_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mlaserve::ops::detail {

// All defined tensors in `tensors` are on one device; kInvalidArgument naming the op and the
// first tensor elsewhere. Returns that device (CPU when none is defined).
Device common_device(std::string_view op,
                     std::initializer_list<std::pair<std::string_view, const Tensor*>> tensors);

[[noreturn]] void no_cuda_backend(std::string_view op);

#if MLASERVE_WITH_CUDA
// The compute stream of t's device (kernels/cuda/context.h).
cudaStream_t stream_for(const Tensor& t);
cudaStream_t stream_for(Device device);
#endif

}  // namespace mlaserve::ops::detail

#if MLASERVE_WITH_CUDA
#define MLA_CUDA_OP(op, ...) \
  do {                       \
    (void)(op);              \
    __VA_ARGS__;             \
  } while (0)
#else
#define MLA_CUDA_OP(op, ...) ::mlaserve::ops::detail::no_cuda_backend(op)
#endif
