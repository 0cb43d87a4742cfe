#pragma once
// An owned, non-blocking CUDA stream (no implicit sync with the legacy default stream).
#include <cuda_runtime_api.h>

namespace mlaserve::cuda {

class CudaStream {
 public:
  CudaStream();  // on the current device
  ~CudaStream();
  CudaStream(CudaStream&& other) noexcept : stream_(other.stream_) { other.stream_ = nullptr; }
  CudaStream& operator=(CudaStream&& other) noexcept;
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;

  cudaStream_t get() const { return stream_; }
  void synchronize() const;  // throws what the queued work failed with

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace mlaserve::cuda
