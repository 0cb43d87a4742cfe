#include "kernels/cuda/stream.h"

#include <utility>

#include "kernels/cuda/cuda_check.h"

namespace mlaserve::cuda {

CudaStream::CudaStream() { MLA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }

CudaStream::~CudaStream() {
  if (stream_ != nullptr) cudaStreamDestroy(stream_);  // no throw from a destructor
}

CudaStream& CudaStream::operator=(CudaStream&& other) noexcept {
  std::swap(stream_, other.stream_);
  return *this;
}

void CudaStream::synchronize() const { MLA_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

}  // namespace mlaserve::cuda
