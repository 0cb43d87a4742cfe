#pragma once
// Plugs the CUDA backend into runtime/core: after init_cuda_backend(), Tensor::empty on
// Device::cuda(i) allocates on device i, stream-ordered on its compute stream (context.h). Idempotent; needs no device to succeed
// (allocations then fail with kUnavailable).
namespace mlaserve::cuda {

void init_cuda_backend();

}  // namespace mlaserve::cuda
