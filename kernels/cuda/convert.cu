#include "kernels/cuda/convert.h"

#include <cuda_bf16.h>

#include "kernels/cuda/cuda_check.h"

namespace mlaserve::cuda {
namespace {

constexpr int kThreads = 256;

// Grid-stride loops: a fixed, small grid covers any n without 32-bit overflow of the index.
__global__ void bf16_to_f32_kernel(const __nv_bfloat16* src, float* dst, size_t n) {
  for (size_t i = blockIdx.x * size_t{kThreads} + threadIdx.x; i < n; i += size_t{gridDim.x} * kThreads)
    dst[i] = __bfloat162float(src[i]);
}

__global__ void f32_to_bf16_kernel(const float* src, __nv_bfloat16* dst, size_t n) {
  for (size_t i = blockIdx.x * size_t{kThreads} + threadIdx.x; i < n; i += size_t{gridDim.x} * kThreads)
    dst[i] = __float2bfloat16_rn(src[i]);
}

unsigned grid_for(size_t n) {
  const size_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 4096 ? blocks : 4096);
}

}  // namespace

void bf16_to_f32(const uint16_t* src, float* dst, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  bf16_to_f32_kernel<<<grid_for(n), kThreads, 0, stream>>>(
      reinterpret_cast<const __nv_bfloat16*>(src), dst, n);
  MLA_CUDA_CHECK(cudaGetLastError());
}

void f32_to_bf16(const float* src, uint16_t* dst, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  f32_to_bf16_kernel<<<grid_for(n), kThreads, 0, stream>>>(
      src, reinterpret_cast<__nv_bfloat16*>(dst), n);
  MLA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mlaserve::cuda
