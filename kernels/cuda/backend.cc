#include "kernels/cuda/backend.h"

#include <cuda_runtime_api.h>

#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"
#include "runtime/core/logging.h"
#include "runtime/core/tensor.h"

namespace mlaserve::cuda {
namespace {

// Stream-ordered allocation on the device's compute stream (cudaMallocAsync from the device's
// default pool): an allocation is usable by every op queued after it, and a free becomes
// effective only after every op queued before it, so the host never synchronizes to recycle
// activation memory. The caller's current device is left unchanged.
struct CudaAllocator final : Allocator {
  void* allocate(size_t bytes, Device device) override {
    cudaStream_t stream = compute_stream(device.index);
    void* p = nullptr;
    const cudaError_t status = cudaMallocAsync(&p, bytes == 0 ? 1 : bytes, stream);
    if (status != cudaSuccess) {
      cudaGetLastError();
      throw_cuda_error(status, "cudaMallocAsync", __FILE__, __LINE__);
    }
    return p;
  }

  // Runs from Storage's destructor: must not throw. A failure here means the context is already
  // broken (a kernel faulted); the next checked call reports that.
  void deallocate(void* ptr, Device device) override {
    cudaError_t status = cudaErrorInvalidDevice;
    try {
      status = cudaFreeAsync(ptr, compute_stream(device.index));
    } catch (const Error&) {
    }
    if (status != cudaSuccess) {
      MLA_LOG(Error) << "cudaFreeAsync on " << device.name() << " failed: " << cudaGetErrorName(status);
    }
  }
};

}  // namespace

void init_cuda_backend() {
  static CudaAllocator allocator;
  register_allocator(DeviceType::kCUDA, &allocator);
}

}  // namespace mlaserve::cuda
