// The roofline probes return positive, finite, physically possible numbers on a device; their
// argument checks (which run before the device is touched) and the no-device error run anywhere.
#include "kernels/cuda/probes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "kernels/cuda/device.h"
#include "runtime/core/error.h"

namespace mlaserve::cuda {
namespace {

TEST(Probes, MeasurePositiveFiniteRates) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  // 1 GiB: far beyond any L2, so this is HBM. No GPU streams 20 TB/s from HBM.
  const double gbps = hbm_read_gbps(0, size_t{1} << 30, 5);
  EXPECT_TRUE(std::isfinite(gbps) && gbps > 0) << gbps;
  EXPECT_LT(gbps, 20000) << "faster than any HBM: the read was optimised away or mistimed";
  // No GPU does 10 PFLOP/s of dense bf16.
  const double tflops = bf16_gemm_tflops(0, 2048, 2048, 2048, 5);
  EXPECT_TRUE(std::isfinite(tflops) && tflops > 0) << tflops;
  EXPECT_LT(tflops, 10000);
  RecordProperty("hbm_read_gbps", std::to_string(gbps));
  RecordProperty("bf16_gemm_tflops", std::to_string(tflops));
}

TEST(Probes, RefuseBadArguments) {
  auto code_of = [](auto&& call) -> std::optional<ErrorCode> {
    try {
      call();
    } catch (const Error& e) {
      return e.code();
    }
    return std::nullopt;
  };
  EXPECT_EQ(code_of([] { hbm_read_gbps(0, 1024, 3); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { hbm_read_gbps(0, size_t{1} << 30, 0); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { bf16_gemm_tflops(0, 0, 64, 64, 3); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { bf16_gemm_tflops(0, 64, 64, int64_t{1} << 40, 3); }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { bf16_gemm_tflops(0, 64, 64, 64, -1); }), ErrorCode::kInvalidArgument);
}

TEST(Probes, MissingDeviceIsUnavailable) {
  const int count = cuda_device_count();
  EXPECT_THROW(
      {
        try {
          hbm_read_gbps(count, size_t{1} << 20, 1);
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << e.what();
          throw;
        }
      },
      Error);
}

}  // namespace
}  // namespace mlaserve::cuda
