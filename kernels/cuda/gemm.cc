#include "kernels/cuda/gemm.h"

#include <climits>

#include "kernels/cuda/convert.h"
#include "kernels/cuda/cuda_check.h"

namespace mlaserve::cuda {

CublasHandle make_cublas_handle() {
  cublasHandle_t handle = nullptr;
  MLA_CUBLAS_CHECK(cublasCreate(&handle));
  return CublasHandle(handle, [](cublasHandle_t h) { cublasDestroy(h); });
}

void gemm_bf16_weights(cublasHandle_t handle, cudaStream_t stream, int64_t m, int64_t n,
                       int64_t k, const void* x, cudaDataType x_type, const uint16_t* w, void* y,
                       cudaDataType y_type, float alpha, float beta) {
  MLA_ENSURE(m >= 0 && n >= 0 && k > 0 && m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
             kInvalidArgument, "gemm shape m=", m, " n=", n, " k=", k,
             ": need m, n >= 0 and k > 0, all within cuBLAS's int range");
  MLA_ENSURE(x_type == CUDA_R_16BF || x_type == CUDA_R_32F, kInvalidArgument,
             "gemm_bf16_weights: x must be bf16 or f32, got cudaDataType ", static_cast<int>(x_type));
  MLA_ENSURE(y_type == CUDA_R_16BF || y_type == CUDA_R_32F, kInvalidArgument,
             "gemm_bf16_weights: y must be bf16 or f32, got cudaDataType ", static_cast<int>(y_type));
  if (m == 0 || n == 0) return;

  const void* x_bf16 = x;
  void* scratch = nullptr;
  if (x_type == CUDA_R_32F) {
    const size_t count = static_cast<size_t>(m) * static_cast<size_t>(k);
    MLA_CUDA_CHECK(cudaMallocAsync(&scratch, count * sizeof(uint16_t), stream));
    f32_to_bf16(static_cast<const float*>(x), static_cast<uint16_t*>(scratch), count, stream);
    x_bf16 = scratch;
  }
  // cuBLAS is column-major: a row-major [r, c] matrix is its [c, r] transpose. So compute
  // y^T[n, m] = w[n, k] · x^T[k, m], with w seen as [k, n] (transposed back) and x as [k, m].
  const cublasStatus_t status = [&] {
    const cublasStatus_t s = cublasSetStream(handle, stream);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
    return cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                        static_cast<int>(k), &alpha, w, CUDA_R_16BF, static_cast<int>(k), x_bf16,
                        CUDA_R_16BF, static_cast<int>(k), &beta, y, y_type, static_cast<int>(n),
                        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  }();
  if (scratch != nullptr) MLA_CUDA_CHECK(cudaFreeAsync(scratch, stream));
  MLA_CUBLAS_CHECK(status);
}

}  // namespace mlaserve::cuda
