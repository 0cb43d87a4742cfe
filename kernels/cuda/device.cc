#include "kernels/cuda/device.h"

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.h"

namespace mlaserve::cuda {

int cuda_device_count() {
  int count = 0;
  // Without a driver cudart reports cudaErrorInsufficientDriver (or NoDevice): that is "no GPU".
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // leave no error behind for the next call to trip over
    return 0;
  }
  return count;
}

void set_cuda_device(int index) { MLA_CUDA_CHECK(cudaSetDevice(index)); }

DeviceScope::DeviceScope(int device) {
  MLA_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) MLA_CUDA_CHECK(cudaSetDevice(device));
}

DeviceScope::~DeviceScope() { cudaSetDevice(previous_); }

}  // namespace mlaserve::cuda
