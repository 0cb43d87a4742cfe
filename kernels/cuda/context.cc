#include "kernels/cuda/context.h"

#include <array>
#include <mutex>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"

namespace mlaserve::cuda {
namespace {

constexpr int kMaxDevices = 64;

struct DeviceContext {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
};

std::mutex g_mutex;
std::array<DeviceContext, kMaxDevices> g_contexts;  // never destroyed: live until exit

DeviceContext& context(int device) {
  MLA_ENSURE(device >= 0 && device < kMaxDevices, kUnavailable, "CUDA device ", device,
             " is outside [0, ", kMaxDevices, ")");
  return g_contexts[static_cast<size_t>(device)];
}

}  // namespace

cudaStream_t compute_stream(int device) {
  DeviceContext& c = context(device);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (c.stream == nullptr) {
    DeviceScope scope(device);
    MLA_CUDA_CHECK(cudaStreamCreateWithFlags(&c.stream, cudaStreamNonBlocking));
    // Keep freed stream-ordered memory in the device's pool instead of returning it to the
    // driver at every synchronization: steps allocate the same activation sizes again and again.
    cudaMemPool_t pool = nullptr;
    MLA_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    uint64_t keep = ~uint64_t{0};
    MLA_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  }
  return c.stream;
}

cublasHandle_t cublas_handle(int device) {
  cudaStream_t stream = compute_stream(device);
  DeviceContext& c = context(device);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (c.cublas == nullptr) {
    DeviceScope scope(device);
    MLA_CUBLAS_CHECK(cublasCreate(&c.cublas));
    MLA_CUBLAS_CHECK(cublasSetStream(c.cublas, stream));
    // Pure f32 math for f32 GEMMs: no TF32 unless asked for (f32 mode is the exactness mode).
    MLA_CUBLAS_CHECK(cublasSetMathMode(c.cublas, CUBLAS_DEFAULT_MATH));
  }
  return c.cublas;
}

void synchronize(int device) { MLA_CUDA_CHECK(cudaStreamSynchronize(compute_stream(device))); }

}  // namespace mlaserve::cuda
