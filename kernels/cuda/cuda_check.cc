#include "kernels/cuda/cuda_check.h"

#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

namespace mlaserve::cuda {
namespace {

[[noreturn]] void throw_status(ErrorCode code, const char* library, const char* name,
                               const char* detail, const char* call, const char* file, int line) {
  fail(code, call, " failed with ", library, " ", name, " (", detail, ") at ", file, ":", line);
}

}  // namespace

ErrorCode cuda_error_code(int status) {
  switch (static_cast<cudaError_t>(status)) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorStubLibrary:
    case cudaErrorDevicesUnavailable:
    case cudaErrorInvalidDevice:
    case cudaErrorSystemNotReady:
    case cudaErrorSystemDriverMismatch:
      return ErrorCode::kUnavailable;
    case cudaErrorMemoryAllocation:
      return ErrorCode::kResourceExhausted;
    default:
      return ErrorCode::kInternal;
  }
}

ErrorCode cublas_error_code(int status) {
  switch (static_cast<cublasStatus_t>(status)) {
    case CUBLAS_STATUS_NOT_INITIALIZED:  // cublasCreate without a usable driver or device
      return ErrorCode::kUnavailable;
    case CUBLAS_STATUS_ALLOC_FAILED:
      return ErrorCode::kResourceExhausted;
    default:
      return ErrorCode::kInternal;
  }
}

ErrorCode nccl_error_code(int status) {
  return static_cast<ncclResult_t>(status) == ncclRemoteError ? ErrorCode::kUnavailable
                                                              : ErrorCode::kInternal;
}

void throw_cuda_error(int status, const char* call, const char* file, int line) {
  const auto e = static_cast<cudaError_t>(status);
  throw_status(cuda_error_code(status), "CUDA", cudaGetErrorName(e), cudaGetErrorString(e), call,
               file, line);
}

void throw_cublas_error(int status, const char* call, const char* file, int line) {
  const auto s = static_cast<cublasStatus_t>(status);
  throw_status(cublas_error_code(status), "cuBLAS", cublasGetStatusName(s),
               cublasGetStatusString(s), call, file, line);
}

void throw_nccl_error(int status, const char* call, const char* file, int line) {
  // ncclGetLastError holds the detail (which peer, which socket) of this thread's last failure.
  const auto r = static_cast<ncclResult_t>(status);
  const char* detail = ncclGetLastError(nullptr);
  throw_status(nccl_error_code(status), "NCCL", ncclGetErrorString(r),
               detail != nullptr && *detail != '\0' ? detail : "no detail", call, file, line);
}

}  // namespace mlaserve::cuda
