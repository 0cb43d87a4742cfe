#include "kernels/cuda/head_gemm.h"

#include "kernels/cuda/cuda_check.h"

namespace mlaserve::cuda {
namespace {

// 64 x 64 output tiles, k in steps of 16, 256 threads with 4 x 4 outputs each: shapes here are
// small (k = nope 128 or kv_lora 512, n = kv_lora or v), the batch (heads) gives the CTAs.
constexpr int kTileM = 64;
constexpr int kTileN = 64;
constexpr int kTileK = 16;
constexpr int kThreads = 256;

__device__ __forceinline__ float bf16_bits_to_f32(uint16_t bits) {
  return __uint_as_float(static_cast<uint32_t>(bits) << 16);  // exact, like bf16_to_float
}

// kBKContiguous: B has unit stride along k (W_UV_h read as [k, n] = transposed), so the tile is
// loaded k-fastest to keep global reads contiguous; otherwise n-fastest.
template <bool kBKContiguous>
__global__ void __launch_bounds__(kThreads) head_gemm_kernel(HeadGemmArgs p) {
  // +1 column: the k-fastest stores of a warp land in different banks.
  __shared__ float as[kTileK][kTileM + 1];
  __shared__ float bs[kTileK][kTileN + 1];
  const int64_t batch = blockIdx.z;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kTileM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * kTileN;
  const float* a = p.a + batch * p.a_batch_stride;
  const uint16_t* b = p.b + batch * p.b_batch_stride;
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % 16, ty = tid / 16;  // outputs (ty + 16 i, tx + 16 j)

  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < p.k; k0 += kTileK) {
    for (int e = tid; e < kTileM * kTileK; e += kThreads) {
      const int mm = e / kTileK, kk = e % kTileK;
      const int64_t m = m0 + mm, k = k0 + kk;
      as[kk][mm] = (m < p.m && k < p.k) ? a[m * p.a_row_stride + k] : 0.f;
    }
    for (int e = tid; e < kTileK * kTileN; e += kThreads) {
      const int kk = kBKContiguous ? e % kTileK : e / kTileN;
      const int nn = kBKContiguous ? e / kTileK : e % kTileN;
      const int64_t k = k0 + kk, n = n0 + nn;
      bs[kk][nn] = (n < p.n && k < p.k) ? bf16_bits_to_f32(b[k * p.b_k_stride + n * p.b_n_stride])
                                        : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = as[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();  // the tiles are overwritten next step
  }

  float* c = p.c + batch * p.c_batch_stride;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + ty + 16 * i;
    if (m >= p.m) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + tx + 16 * j;
      if (n < p.n) c[m * p.c_row_stride + n] = acc[i][j];
    }
  }
}

}  // namespace

void head_gemm_bf16(const HeadGemmArgs& p, cudaStream_t stream) {
  MLA_ENSURE(p.batch >= 0 && p.m >= 0 && p.n >= 0 && p.k >= 0, kInvalidArgument,
             "head_gemm_bf16: negative size (batch ", p.batch, ", m ", p.m, ", n ", p.n, ", k ",
             p.k, ")");
  MLA_ENSURE(p.b_k_stride == 1 || p.b_n_stride == 1, kInvalidArgument,
             "head_gemm_bf16: B needs unit stride along k or n, got strides ", p.b_k_stride,
             " and ", p.b_n_stride);
  if (p.batch == 0 || p.m == 0 || p.n == 0) return;
  const int64_t gx = (p.m + kTileM - 1) / kTileM, gy = (p.n + kTileN - 1) / kTileN;
  MLA_ENSURE(gx <= 0x7fffffff && gy <= 65535 && p.batch <= 65535, kInvalidArgument,
             "head_gemm_bf16: grid ", gx, " x ", gy, " x ", p.batch, " exceeds CUDA's limits");
  const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy),
                  static_cast<unsigned>(p.batch));
  if (p.b_k_stride == 1 && p.b_n_stride != 1)
    head_gemm_kernel<true><<<grid, kThreads, 0, stream>>>(p);
  else
    head_gemm_kernel<false><<<grid, kThreads, 0, stream>>>(p);
  MLA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mlaserve::cuda
