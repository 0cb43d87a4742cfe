#pragma once
// Moving test data between host vectors and device tensors (allocated through the backend).
#include <vector>

#include "kernels/cuda/backend.h"
#include "kernels/cuda/copy.h"
#include "kernels/cuda/cuda_check.h"
#include "runtime/core/tensor.h"

namespace mlaserve::cuda::testing {

template <typename T>
Tensor to_device(const std::vector<T>& host, DType dtype, cudaStream_t stream) {
  init_cuda_backend();
  Tensor t = Tensor::empty({static_cast<int64_t>(host.size())}, dtype, Device::cuda(0));
  copy_host_to_device(t.raw_data(), host.data(), host.size() * sizeof(T), stream);
  return t;
}

template <typename T>
std::vector<T> to_host(const Tensor& t, cudaStream_t stream) {
  std::vector<T> host(static_cast<size_t>(t.numel()));
  copy_device_to_host(host.data(), t.raw_data(), t.nbytes(), stream);
  MLA_CUDA_CHECK(cudaStreamSynchronize(stream));
  return host;
}

}  // namespace mlaserve::cuda::testing
