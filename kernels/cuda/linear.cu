#include "kernels/cuda/linear.h"

#include <algorithm>
#include <climits>

#include <cuda_bf16.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/stream_buffer.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/gemm.h"

namespace mlaserve::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridX = 1024;
constexpr int64_t kMaxGridY = 65535;  // the hardware limit of grid.y

// Element-wise kernels over [rows, cols] row-strided matrices: blocks stride over rows along
// grid.y, threads over columns along grid.x, so any size fits the grid limits and every index
// is 64-bit.
dim3 rows_grid(int64_t rows, int64_t cols) {
  const int64_t x = std::min<int64_t>((cols + kThreads - 1) / kThreads, kMaxGridX);
  const int64_t y = std::min<int64_t>(rows, kMaxGridY);
  return dim3(static_cast<unsigned>(x), static_cast<unsigned>(y));
}

template <typename S, typename D>
__global__ void convert_rows_kernel(const S* src, int64_t lds, D* dst, int64_t ldd, int64_t rows,
                                    int64_t cols) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (int64_t c = blockIdx.x * int64_t{kThreads} + threadIdx.x; c < cols;
         c += int64_t{gridDim.x} * kThreads)
      dst[r * ldd + c] = from_f32<D>(to_f32(src[r * lds + c]));
}

// out rows [0, rows) get hi = bf16(x), rows [rows, 2·rows) get lo = bf16(x - hi); out is
// contiguous ([2·rows, cols]). x - hi is exact in f32. When hi is not finite (x is ±inf/NaN, or
// beyond bf16's range) x - hi would be NaN; lo = 0 lets hi carry x's value alone.
__global__ void split_rows_kernel(const float* x, int64_t ldx, __nv_bfloat16* out, int64_t rows,
                                  int64_t cols) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (int64_t c = blockIdx.x * int64_t{kThreads} + threadIdx.x; c < cols;
         c += int64_t{gridDim.x} * kThreads) {
      const float v = x[r * ldx + c];
      const __nv_bfloat16 hi = __float2bfloat16_rn(v);
      const float hf = __bfloat162float(hi);
      out[r * cols + c] = hi;
      out[(rows + r) * cols + c] = __float2bfloat16_rn(isfinite(hf) ? v - hf : 0.f);
    }
}

// y[r, c] = s[r, c] + s[rows + r, c]: the hi and lo halves of the split product, summed in f32
// and rounded once into y's dtype.
template <typename Y>
__global__ void add_halves_kernel(const float* s, int64_t rows, int64_t cols, Y* y, int64_t ldy) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (int64_t c = blockIdx.x * int64_t{kThreads} + threadIdx.x; c < cols;
         c += int64_t{gridDim.x} * kThreads)
      y[r * ldy + c] = from_f32<Y>(s[r * cols + c] + s[(rows + r) * cols + c]);
}

template <typename S, typename D>
void convert_rows(const S* src, int64_t lds, D* dst, int64_t ldd, int64_t rows, int64_t cols,
                  cudaStream_t stream) {
  convert_rows_kernel<S, D><<<rows_grid(rows, cols), kThreads, 0, stream>>>(src, lds, dst, ldd,
                                                                            rows, cols);
  MLA_CUDA_CHECK(cudaGetLastError());
}

size_t bytes_of(bool bf16) { return bf16 ? 2 : 4; }

// w bf16, x f32: the split-precision product (linear.h), in chunks of rows bounded by
// kSplitScratchBytes.
void linear_split(const LinearArgs& a, cublasHandle_t handle, cudaStream_t stream) {
  const int64_t bytes_per_row = 2 * (a.k * 2 + a.n * 4);  // hi/lo operand + f32 product rows
  int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(kSplitScratchBytes) / bytes_per_row);
  chunk = std::min<int64_t>({chunk, a.m, INT_MAX / 2});  // 2·chunk rows must fit cuBLAS's int
  const StreamBuffer operand(static_cast<size_t>(2 * chunk * a.k) * 2, stream);
  const StreamBuffer product(static_cast<size_t>(2 * chunk * a.n) * 4, stream);
  const auto* x = static_cast<const float*>(a.x);
  auto* y = static_cast<char*>(a.y);
  const size_t y_size = bytes_of(a.y_bf16);
  for (int64_t r0 = 0; r0 < a.m; r0 += chunk) {
    const int64_t rows = std::min(chunk, a.m - r0);
    split_rows_kernel<<<rows_grid(rows, a.k), kThreads, 0, stream>>>(
        x + r0 * a.ldx, a.ldx, operand.as<__nv_bfloat16>(), rows, a.k);
    MLA_CUDA_CHECK(cudaGetLastError());
    gemm_nt(handle, {operand.as<void>(), CUDA_R_16BF, a.k, a.w, CUDA_R_16BF, a.k,
                     product.as<void>(), CUDA_R_32F, a.n, 2 * rows, a.n, a.k});
    void* y_rows = y + static_cast<size_t>(r0 * a.ldy) * y_size;
    if (a.y_bf16)
      add_halves_kernel<<<rows_grid(rows, a.n), kThreads, 0, stream>>>(
          product.as<float>(), rows, a.n, static_cast<__nv_bfloat16*>(y_rows), a.ldy);
    else
      add_halves_kernel<<<rows_grid(rows, a.n), kThreads, 0, stream>>>(
          product.as<float>(), rows, a.n, static_cast<float*>(y_rows), a.ldy);
    MLA_CUDA_CHECK(cudaGetLastError());
  }
}

// w f32: a plain f32 GEMM, staging a bf16 x or y through f32 scratch.
void linear_f32_weights(const LinearArgs& a, cublasHandle_t handle, cudaStream_t stream) {
  const StreamBuffer x32(a.x_bf16 ? static_cast<size_t>(a.m * a.k) * 4 : 0, stream);
  const StreamBuffer y32(a.y_bf16 ? static_cast<size_t>(a.m * a.n) * 4 : 0, stream);
  const void* x = a.x;
  int64_t ldx = a.ldx;
  if (a.x_bf16) {
    convert_rows(static_cast<const __nv_bfloat16*>(a.x), a.ldx, x32.as<float>(), a.k, a.m, a.k,
                 stream);
    x = x32.as<void>();
    ldx = a.k;
  }
  void* y = a.y_bf16 ? y32.as<void>() : a.y;
  const int64_t ldy = a.y_bf16 ? a.n : a.ldy;
  gemm_nt(handle, {x, CUDA_R_32F, ldx, a.w, CUDA_R_32F, a.k, y, CUDA_R_32F, ldy, a.m, a.n, a.k});
  if (a.y_bf16)
    convert_rows(y32.as<float>(), a.n, static_cast<__nv_bfloat16*>(a.y), a.ldy, a.m, a.n, stream);
}

}  // namespace

void linear(const LinearArgs& args, cublasHandle_t handle, cudaStream_t stream) {
  LinearArgs a = args;
  MLA_ENSURE(a.m >= 0 && a.n >= 0 && a.k >= 0, kInvalidArgument, "linear: shape m=", a.m,
             " n=", a.n, " k=", a.k, " has a negative size");
  MLA_ENSURE(handle != nullptr, kInvalidArgument, "linear: no cuBLAS handle");
  cudaStream_t bound = nullptr;
  MLA_CUBLAS_CHECK(cublasGetStream(handle, &bound));
  MLA_ENSURE(bound == stream, kInvalidArgument,
             "linear: the cuBLAS handle is bound to another stream than the one given");
  if (a.m == 0 || a.n == 0) return;
  if (a.m == 1) {  // one row: its leading dimension is never used
    a.ldx = a.k;
    a.ldy = a.n;
  }
  MLA_ENSURE(a.ldx >= a.k && a.ldy >= a.n, kInvalidArgument, "linear: rows of x (ldx=", a.ldx,
             ") and y (ldy=", a.ldy, ") overlap for k=", a.k, ", n=", a.n);
  MLA_ENSURE(a.x != nullptr && a.w != nullptr && a.y != nullptr, kInvalidArgument,
             "linear: null operand");
  if (a.k == 0) {  // an empty sum: y = 0 (cuBLAS would leave y as it was)
    const size_t size = bytes_of(a.y_bf16);
    MLA_CUDA_CHECK(cudaMemset2DAsync(a.y, static_cast<size_t>(a.ldy) * size, 0,
                                     static_cast<size_t>(a.n) * size,
                                     static_cast<size_t>(a.m), stream));
    return;
  }
  if (!a.w_bf16) return linear_f32_weights(a, handle, stream);
  if (!a.x_bf16) return linear_split(a, handle, stream);
  gemm_nt(handle, {a.x, CUDA_R_16BF, a.ldx, a.w, CUDA_R_16BF, a.k, a.y,
                   a.y_bf16 ? CUDA_R_16BF : CUDA_R_32F, a.ldy, a.m, a.n, a.k});
}

}  // namespace mlaserve::cuda
