#pragma once
// Device helpers shared by the .cu files: dtype conversions and block reductions. Included only
// from .cu files.
#include <cuda_bf16.h>

namespace mlaserve::cuda {

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);  // round to nearest even, like mlaserve::float_to_bf16
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum of `v` over a block of kThreads threads (a multiple of 32), returned to every thread.
// `partial` is kThreads / 32 floats of shared memory. Contains __syncthreads: call it from every
// thread of the block.
template <int kThreads>
__device__ __forceinline__ float block_sum(float v, float* partial) {
  v = warp_sum(v);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < kThreads / 32; ++w) total += partial[w];
  __syncthreads();  // partial may be reused by the caller
  return total;
}

// Max of `v` over a block; same rules as block_sum.
template <int kThreads>
__device__ __forceinline__ float block_max(float v, float* partial) {
  v = warp_max(v);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  float total = partial[0];
  for (int w = 1; w < kThreads / 32; ++w) total = fmaxf(total, partial[w]);
  __syncthreads();
  return total;
}

}  // namespace mlaserve::cuda
