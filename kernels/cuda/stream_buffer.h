#pragma once
// Device memory for one call's temporaries, allocated and freed stream-ordered on `stream`
// (cudaMallocAsync / cudaFreeAsync): the host never waits, and the memory is reused only after
// the kernels queued before the free have run. Out of memory throws kResourceExhausted naming
// `what`. Movable, not copyable; 0 bytes allocates nothing.
#include <cstddef>
#include <utility>

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.h"

namespace mlaserve::cuda {

class StreamBuffer {
 public:
  StreamBuffer(size_t bytes, cudaStream_t stream, const char* what = "cudaMallocAsync")
      : stream_(stream) {
    if (bytes == 0) return;
    const cudaError_t status = cudaMallocAsync(&ptr_, bytes, stream);
    if (status != cudaSuccess) {
      cudaGetLastError();  // not sticky: keep it from surfacing at the next launch check
      throw_cuda_error(status, what, __FILE__, __LINE__);
    }
  }
  StreamBuffer(StreamBuffer&& other) noexcept
      : ptr_(std::exchange(other.ptr_, nullptr)), stream_(other.stream_) {}
  StreamBuffer(const StreamBuffer&) = delete;
  StreamBuffer& operator=(const StreamBuffer&) = delete;
  StreamBuffer& operator=(StreamBuffer&&) = delete;
  // A failed free means the context is already broken; the next checked call reports it.
  ~StreamBuffer() {
    if (ptr_ != nullptr) cudaFreeAsync(ptr_, stream_);
  }

  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_;
};

}  // namespace mlaserve::cuda
