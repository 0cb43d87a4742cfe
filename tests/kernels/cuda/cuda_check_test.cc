// Device-free checks: they run wherever the CUDA backend is built, GPU or not.
#include "kernels/cuda/cuda_check.h"

#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <string>

#include "kernels/cuda/backend.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/nccl_util.h"
#include "runtime/core/tensor.h"

namespace mlaserve::cuda {
namespace {

cudaError_t fake_out_of_memory() { return cudaErrorMemoryAllocation; }
cublasStatus_t fake_cublas_not_initialized() { return CUBLAS_STATUS_NOT_INITIALIZED; }
ncclResult_t fake_nccl_remote_error() { return ncclRemoteError; }

// Runs `f`, expects an Error with `code`, returns its message.
template <typename F>
std::string error_message(F f, ErrorCode code) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no throw";
  return "";
}

TEST(CudaCheck, NamesCallLibraryErrorFileAndLine) {
  const std::string m = error_message([] { MLA_CUDA_CHECK(fake_out_of_memory()); },
                                      ErrorCode::kResourceExhausted);
  EXPECT_NE(m.find("fake_out_of_memory()"), std::string::npos) << m;
  EXPECT_NE(m.find("cudaErrorMemoryAllocation"), std::string::npos) << m;
  EXPECT_NE(m.find("cuda_check_test.cc:"), std::string::npos) << m;
}

TEST(CudaCheck, CublasAndNcclStatusesMapToCodes) {
  const std::string b = error_message([] { MLA_CUBLAS_CHECK(fake_cublas_not_initialized()); },
                                      ErrorCode::kUnavailable);
  EXPECT_NE(b.find("CUBLAS_STATUS_NOT_INITIALIZED"), std::string::npos) << b;
  const std::string n = error_message([] { MLA_NCCL_CHECK(fake_nccl_remote_error()); },
                                      ErrorCode::kUnavailable);
  EXPECT_NE(n.find("fake_nccl_remote_error()"), std::string::npos) << n;
  EXPECT_EQ(cuda_error_code(cudaErrorNoDevice), ErrorCode::kUnavailable);
  EXPECT_EQ(cuda_error_code(cudaErrorInsufficientDriver), ErrorCode::kUnavailable);
  EXPECT_EQ(cuda_error_code(cudaErrorIllegalAddress), ErrorCode::kInternal);
  EXPECT_EQ(cublas_error_code(CUBLAS_STATUS_ALLOC_FAILED), ErrorCode::kResourceExhausted);
  EXPECT_EQ(nccl_error_code(ncclInvalidUsage), ErrorCode::kInternal);
}

TEST(CudaCheck, SuccessDoesNotThrowAndEvaluatesOnce) {
  int calls = 0;
  auto ok = [&] { ++calls; return cudaSuccess; };
  MLA_CUDA_CHECK(ok());
  EXPECT_EQ(calls, 1);
}

TEST(Nccl, VersionMatchesHeaderAndIdBytesAreChecked) {
  EXPECT_EQ(nccl_version(), NCCL_VERSION_CODE);
  const ncclUniqueId id = nccl_unique_id_from_bytes(std::string(NCCL_UNIQUE_ID_BYTES, '\x5a'));
  EXPECT_EQ(id.internal[NCCL_UNIQUE_ID_BYTES - 1], '\x5a');
  error_message([] { nccl_unique_id_from_bytes("short"); }, ErrorCode::kInvalidArgument);
}

TEST(Nccl, UniqueIdsAreFreshAndRoundTrip) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const std::string a = nccl_unique_id_bytes();
  const std::string b = nccl_unique_id_bytes();
  ASSERT_EQ(a.size(), size_t{NCCL_UNIQUE_ID_BYTES});
  EXPECT_NE(a, b);
  const ncclUniqueId id = nccl_unique_id_from_bytes(a);
  EXPECT_EQ(std::string(id.internal, sizeof id.internal), a);
}

// What a CPU-only machine sees: no throw from discovery, a clear kUnavailable on first use.
TEST(NoDevice, CountIsZeroAndAllocationIsUnavailable) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  init_cuda_backend();
  const std::string m = error_message(
      [] { Tensor::empty({4}, DType::kF32, Device::cuda(0)); }, ErrorCode::kUnavailable);
  EXPECT_NE(m.find("CUDA"), std::string::npos) << m;
  error_message([] { set_cuda_device(0); }, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace mlaserve::cuda
