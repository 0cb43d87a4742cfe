#pragma once
// Linear layers on cuBLAS: y[m, n] = alpha * x[m, k] · w[n, k]^T + beta * y, all row-major, with
// bf16 weights (the checkpoint's layout, used as is) and f32 accumulation.
#include <cstdint>
#include <memory>
#include <type_traits>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <library_types.h>

namespace mlaserve::cuda {

using CublasHandle = std::unique_ptr<std::remove_pointer_t<cublasHandle_t>, void (*)(cublasHandle_t)>;
CublasHandle make_cublas_handle();  // on the current device

// x_type: CUDA_R_16BF or CUDA_R_32F; cuBLAS has no f32 x bf16 product, so f32 activations are
// rounded to bf16 on `stream` first (stream-ordered scratch). y_type: CUDA_R_16BF or CUDA_R_32F.
void gemm_bf16_weights(cublasHandle_t handle, cudaStream_t stream, int64_t m, int64_t n,
                       int64_t k, const void* x, cudaDataType x_type, const uint16_t* w, void* y,
                       cudaDataType y_type, float alpha = 1.f, float beta = 0.f);

}  // namespace mlaserve::cuda
