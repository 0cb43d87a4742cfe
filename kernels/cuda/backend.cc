#include "kernels/cuda/backend.h"

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.h"
#include "runtime/core/logging.h"
#include "runtime/core/tensor.h"

namespace mlaserve::cuda {
namespace {

// Allocates on the requested device without changing the caller's current device.
struct CudaAllocator final : Allocator {
  void* allocate(size_t bytes, Device device) override {
    int previous = 0;
    MLA_CUDA_CHECK(cudaGetDevice(&previous));
    MLA_CUDA_CHECK(cudaSetDevice(device.index));
    void* p = nullptr;
    const cudaError_t status = cudaMalloc(&p, bytes);
    cudaSetDevice(previous);
    if (status != cudaSuccess) {
      cudaGetLastError();
      throw_cuda_error(status, "cudaMalloc", __FILE__, __LINE__);
    }
    return p;
  }

  // Runs from Storage's destructor: must not throw. A failure here means the context is already
  // broken (a kernel faulted); the next checked call reports that.
  void deallocate(void* ptr, Device device) override {
    const cudaError_t status = cudaFree(ptr);
    if (status != cudaSuccess) {
      MLA_LOG(Error) << "cudaFree on " << device.name() << " failed: " << cudaGetErrorName(status);
    }
  }
};

}  // namespace

void init_cuda_backend() {
  static CudaAllocator allocator;
  register_allocator(DeviceType::kCUDA, &allocator);
}

}  // namespace mlaserve::cuda
