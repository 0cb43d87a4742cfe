#pragma once
// Per-device execution context. Every op and every collective on a device is enqueued on that
// device's one compute stream, so consecutive ops (and NCCL collectives) are ordered by the
// stream alone and the host never waits between them (DESIGN "Devices"). Stream-ordered
// allocation (backend.h) frees onto the same stream, so a tensor dropped by the host is reused
// only after the kernels that read it.
//
// One stream and one cuBLAS handle per device per process, created on first use and kept for
// the process lifetime. Ranks that are threads of one process use different devices; two
// threads driving the same device must not interleave ops (the engine has one thread).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

namespace mlaserve::cuda {

// The compute stream of `device` (non-blocking). Throws kUnavailable when the device does not
// exist (no driver, index out of range).
cudaStream_t compute_stream(int device);
// A cuBLAS handle on `device` bound to compute_stream(device), with its workspace set up.
cublasHandle_t cublas_handle(int device);
// Waits for everything queued on compute_stream(device); throws what a kernel failed with.
// Plain blocking wait: callers that may wait on a collective use the communicator's synchronize
// (which has a deadline) first.
void synchronize(int device);

}  // namespace mlaserve::cuda
