#include "kernels/cuda/rmsnorm.h"

#include <cuda_bf16.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"

namespace mlaserve::cuda {
namespace {

constexpr int kThreads = 256;  // one block per row; rows are hidden sizes (512..7168)

// The sum of squares is accumulated per thread over a strided subset, then reduced; the CPU
// kernel sums in another order, so f32 results agree to rounding (~1e-7 relative), not bitwise.
template <typename X, typename W, typename Y>
__global__ void rms_norm_kernel(const X* x, int64_t ldx, const W* weight, Y* y, int64_t ldy,
                                int64_t cols, float eps) {
  const X* row = x + blockIdx.x * ldx;
  Y* out = y + blockIdx.x * ldy;
  float sum = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) {
    const float v = to_f32(row[c]);
    sum += v * v;
  }
  __shared__ float partial[kThreads / 32];
  sum = block_sum<kThreads>(sum, partial);
  const float scale = 1.0f / sqrtf(sum / static_cast<float>(cols) + eps);
  for (int64_t c = threadIdx.x; c < cols; c += kThreads)
    out[c] = from_f32<Y>(to_f32(row[c]) * scale * to_f32(weight[c]));
}

template <typename X, typename W, typename Y>
void launch(const RmsNormArgs& a, cudaStream_t stream) {
  rms_norm_kernel<X, W, Y><<<static_cast<unsigned>(a.rows), kThreads, 0, stream>>>(
      static_cast<const X*>(a.x), a.ldx, static_cast<const W*>(a.weight), static_cast<Y*>(a.y),
      a.ldy, a.cols, a.eps);
}

template <typename X, typename W>
void launch_y(const RmsNormArgs& a, cudaStream_t stream) {
  if (a.y_bf16) launch<X, W, __nv_bfloat16>(a, stream);
  else launch<X, W, float>(a, stream);
}

template <typename X>
void launch_w(const RmsNormArgs& a, cudaStream_t stream) {
  if (a.weight_bf16) launch_y<X, __nv_bfloat16>(a, stream);
  else launch_y<X, float>(a, stream);
}

}  // namespace

void rms_norm(const RmsNormArgs& a, cudaStream_t stream) {
  MLA_ENSURE(a.rows >= 0 && a.cols > 0 && a.rows <= 0x7fffffff, kInvalidArgument, "rms_norm of ",
             a.rows, " rows of ", a.cols, " columns");
  if (a.rows == 0) return;
  if (a.x_bf16) launch_w<__nv_bfloat16>(a, stream);
  else launch_w<float>(a, stream);
  MLA_CUDA_CHECK(cudaGetLastError());
}

void rmsnorm_f32(const float* x, const float* weight, float* y, int64_t rows, int64_t cols,
                 float eps, cudaStream_t stream) {
  rms_norm({x, false, cols, weight, false, y, false, cols, rows, cols, eps}, stream);
}

void rmsnorm_bf16(const uint16_t* x, const uint16_t* weight, uint16_t* y, int64_t rows,
                  int64_t cols, float eps, cudaStream_t stream) {
  rms_norm({x, true, cols, weight, true, y, true, cols, rows, cols, eps}, stream);
}

}  // namespace mlaserve::cuda
