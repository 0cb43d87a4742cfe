#include "kernels/cuda/rmsnorm.h"

#include <cuda_bf16.h>

#include "kernels/cuda/cuda_check.h"

namespace mlaserve::cuda {
namespace {

constexpr int kThreads = 256;  // one block per row; rows are hidden sizes (512..7168)

__device__ float to_float(float v) { return v; }
__device__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T>
__device__ T from_float(float v);
template <>
__device__ float from_float<float>(float v) { return v; }
template <>
__device__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

template <typename T>
__global__ void rmsnorm_kernel(const T* x, const T* weight, T* y, int64_t cols, float eps) {
  const T* row = x + blockIdx.x * cols;
  T* out = y + blockIdx.x * cols;
  float sum = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) {
    const float v = to_float(row[c]);
    sum += v * v;
  }
  // Warp sums, then the first warp sums the per-warp partials.
  __shared__ float partial[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x < 32) {
    sum = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : 0.f;
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (threadIdx.x == 0) partial[0] = sum;
  }
  __syncthreads();
  const float scale = rsqrtf(partial[0] / static_cast<float>(cols) + eps);
  for (int64_t c = threadIdx.x; c < cols; c += kThreads)
    out[c] = from_float<T>(to_float(row[c]) * scale * to_float(weight[c]));
}

template <typename T>
void launch(const T* x, const T* weight, T* y, int64_t rows, int64_t cols, float eps,
            cudaStream_t stream) {
  MLA_ENSURE(rows >= 0 && cols > 0 && rows <= 0x7fffffff, kInvalidArgument, "rmsnorm of ", rows,
             " rows of ", cols, " columns");
  if (rows == 0) return;
  rmsnorm_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, weight, y, cols, eps);
  MLA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void rmsnorm_f32(const float* x, const float* weight, float* y, int64_t rows, int64_t cols,
                 float eps, cudaStream_t stream) {
  launch(x, weight, y, rows, cols, eps, stream);
}

void rmsnorm_bf16(const uint16_t* x, const uint16_t* weight, uint16_t* y, int64_t rows,
                  int64_t cols, float eps, cudaStream_t stream) {
  launch(reinterpret_cast<const __nv_bfloat16*>(x), reinterpret_cast<const __nv_bfloat16*>(weight),
         reinterpret_cast<__nv_bfloat16*>(y), rows, cols, eps, stream);
}

}  // namespace mlaserve::cuda
