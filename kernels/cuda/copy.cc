#include "kernels/cuda/copy.h"

#include "kernels/cuda/cuda_check.h"

namespace mlaserve::cuda {

void copy_host_to_device(void* device_dst, const void* host_src, size_t bytes, cudaStream_t stream) {
  MLA_CUDA_CHECK(cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, stream));
}

void copy_device_to_host(void* host_dst, const void* device_src, size_t bytes, cudaStream_t stream) {
  MLA_CUDA_CHECK(cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, stream));
}

void copy_device_to_device(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  MLA_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
}

}  // namespace mlaserve::cuda
