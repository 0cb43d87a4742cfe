#include "kernels/cuda/softmax.h"

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"

namespace mlaserve::cuda {
namespace {

// One block per row: the rows are MoE gate logits (64..160 experts) or vocabulary shards, short
// enough that three passes over a row (max, exp-and-sum, scale) stay in L1/L2.
constexpr int kThreads = 256;

// Each thread touches the same columns in every pass (c = threadIdx.x + k * kThreads), so
// writing exp(x - max) into out and scaling it afterwards is safe when out aliases x.
__global__ void softmax_rows_kernel(const float* x, int64_t ldx, float* out, int64_t ldo,
                                    int64_t cols) {
  const float* row = x + int64_t{blockIdx.x} * ldx;
  float* o = out + int64_t{blockIdx.x} * ldo;
  __shared__ float partial[kThreads / 32];
  float mx = -INFINITY;
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) mx = fmaxf(mx, row[c]);
  mx = block_max<kThreads>(mx, partial);
  if (mx == -INFINITY) {  // fully masked row (every thread sees the same mx)
    for (int64_t c = threadIdx.x; c < cols; c += kThreads) o[c] = 0.0f;
    return;
  }
  float sum = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) {
    const float e = expf(row[c] - mx);
    o[c] = e;
    sum += e;
  }
  sum = block_sum<kThreads>(sum, partial);
  const float inv = 1.0f / sum;  // multiply by the reciprocal, as the CPU kernel does
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) o[c] *= inv;
}

}  // namespace

void softmax_rows(const float* x, int64_t ldx, float* out, int64_t ldo, int64_t rows,
                  int64_t cols, cudaStream_t stream) {
  MLA_ENSURE(rows >= 0 && cols >= 0 && rows <= 0x7fffffff, kInvalidArgument, "softmax_rows: ",
             rows, " rows of ", cols, " columns (at most 2^31 - 1 rows per launch)");
  if (rows == 0 || cols == 0) return;
  softmax_rows_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, ldx, out, ldo,
                                                                            cols);
  MLA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mlaserve::cuda
