#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "kernels/cuda/backend.h"
#include "kernels/cuda/copy.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/stream.h"
#include "runtime/core/tensor.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace mlaserve::cuda {
namespace {

using testing::to_device;
using testing::to_host;

TEST(CudaAllocator, RoundTripThroughDeviceTensors) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  CudaStream stream;
  std::vector<int32_t> values(1000);
  std::iota(values.begin(), values.end(), -500);
  const Tensor a = to_device(values, DType::kI32, stream.get());
  EXPECT_EQ(a.device(), Device::cuda(0));
  // Device to device, then back: the copy must carry every element.
  Tensor b = Tensor::empty({1000}, DType::kI32, Device::cuda(0));
  copy_device_to_device(b.raw_data(), a.raw_data(), a.nbytes(), stream.get());
  EXPECT_EQ(to_host<int32_t>(b, stream.get()), values);
}

TEST(CudaAllocator, ImpossibleAllocationIsResourceExhausted) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  init_cuda_backend();
  try {
    Tensor::empty({int64_t{1} << 50}, DType::kF32, Device::cuda(0));  // 4 PiB
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted) << e.what();
    EXPECT_NE(std::string(e.what()).find("cudaMalloc"), std::string::npos) << e.what();
  }
  // The failure must not poison later work.
  CudaStream stream;
  EXPECT_EQ(to_host<float>(to_device(std::vector<float>{1.5f}, DType::kF32, stream.get()),
                           stream.get()),
            std::vector<float>{1.5f});
}

TEST(CudaStream, MovedFromStreamIsEmpty) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  CudaStream a;
  cudaStream_t raw = a.get();
  CudaStream b(std::move(a));
  EXPECT_EQ(b.get(), raw);
  EXPECT_EQ(a.get(), nullptr);
  b.synchronize();
}

}  // namespace
}  // namespace mlaserve::cuda
