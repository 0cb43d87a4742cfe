#pragma once
// Status checks for CUDA runtime, cuBLAS and NCCL calls. A failed call throws mlaserve::Error
// naming the call, the library's error name, file and line. Codes: kUnavailable when there is no
// usable device or driver (or an NCCL peer is gone), kResourceExhausted when memory runs out,
// kInternal otherwise. Statuses travel as int so this header needs no CUDA headers: every
// library's success value is 0.
#include "runtime/core/error.h"

namespace mlaserve::cuda {

ErrorCode cuda_error_code(int status);
ErrorCode cublas_error_code(int status);
ErrorCode nccl_error_code(int status);

[[noreturn]] void throw_cuda_error(int status, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(int status, const char* call, const char* file, int line);
[[noreturn]] void throw_nccl_error(int status, const char* call, const char* file, int line);

}  // namespace mlaserve::cuda

#define MLA_CUDA_STATUS_CHECK_(thrower, call)                                    \
  do {                                                                           \
    const int mla_status_ = static_cast<int>(call);                              \
    if (mla_status_ != 0) ::mlaserve::cuda::thrower(mla_status_, #call, __FILE__, __LINE__); \
  } while (0)

#define MLA_CUDA_CHECK(call) MLA_CUDA_STATUS_CHECK_(throw_cuda_error, call)
#define MLA_CUBLAS_CHECK(call) MLA_CUDA_STATUS_CHECK_(throw_cublas_error, call)
#define MLA_NCCL_CHECK(call) MLA_CUDA_STATUS_CHECK_(throw_nccl_error, call)
