#pragma once
// Byte copies between host and device, queued on `stream`. With pageable host memory the copy may
// complete before return; with pinned memory it is asynchronous, so keep the host buffer alive
// until the stream is synchronized.
#include <cstddef>

#include <cuda_runtime_api.h>

namespace mlaserve::cuda {

void copy_host_to_device(void* device_dst, const void* host_src, size_t bytes, cudaStream_t stream);
void copy_device_to_host(void* host_dst, const void* device_src, size_t bytes, cudaStream_t stream);
void copy_device_to_device(void* dst, const void* src, size_t bytes, cudaStream_t stream);

}  // namespace mlaserve::cuda
