#include "kernels/cuda/rmsnorm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/convert.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/stream.h"
#include "runtime/core/dtype.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace mlaserve::cuda {
namespace {

using testing::to_device;
using testing::to_host;

std::vector<float> random_values(size_t count, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = float_to_bf16(v[i]);
  return out;
}

std::vector<double> reference(const std::vector<float>& x, const std::vector<float>& w,
                              int64_t rows, int64_t cols, double eps) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < cols; ++c) ss += double{x[r * cols + c]} * x[r * cols + c];
    const double scale = 1 / std::sqrt(ss / cols + eps);
    for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = x[r * cols + c] * scale * w[c];
  }
  return y;
}

// 1000 columns: not a multiple of the block, so the tail and the cross-warp reduction both count.
constexpr int64_t kRows = 3, kCols = 1000;
constexpr float kEps = 1e-6f;

TEST(RmsNorm, F32MatchesCpu) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  CudaStream stream;
  const auto x = random_values(kRows * kCols, 3, -4.f, 4.f);
  const auto w = random_values(kCols, 4, 0.5f, 1.5f);
  const Tensor x_d = to_device(x, DType::kF32, stream.get());
  const Tensor w_d = to_device(w, DType::kF32, stream.get());
  Tensor y_d = Tensor::empty({kRows * kCols}, DType::kF32, Device::cuda(0));
  rmsnorm_f32(x_d.data<float>(), w_d.data<float>(), y_d.data<float>(), kRows, kCols, kEps,
              stream.get());
  const auto y = to_host<float>(y_d, stream.get());
  const auto want = reference(x, w, kRows, kCols, kEps);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(y[i], want[i], 1e-5 * (1 + std::abs(want[i]))) << i;
}

TEST(RmsNorm, Bf16InPlaceMatchesCpuOnRoundedInputs) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  CudaStream stream;
  const auto x16 = to_bf16(random_values(kRows * kCols, 5, -4.f, 4.f));
  const auto w16 = to_bf16(random_values(kCols, 6, 0.5f, 1.5f));
  std::vector<float> x(x16.size()), w(w16.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = bf16_to_float(x16[i]);
  for (size_t i = 0; i < w.size(); ++i) w[i] = bf16_to_float(w16[i]);
  Tensor x_d = to_device(x16, DType::kBF16, stream.get());
  const Tensor w_d = to_device(w16, DType::kBF16, stream.get());
  rmsnorm_bf16(x_d.data<uint16_t>(), w_d.data<uint16_t>(), x_d.data<uint16_t>(), kRows, kCols,
               kEps, stream.get());
  const auto y = to_host<uint16_t>(x_d, stream.get());
  const auto want = reference(x, w, kRows, kCols, kEps);
  // One bf16 rounding of the output (relative 2^-8 at most), plus f32 slack.
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(bf16_to_float(y[i]), want[i], std::abs(want[i]) / 200 + 1e-5) << i;
}

TEST(Convert, Bf16AndF32AgreeWithCoreConversions) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  CudaStream stream;
  // Includes ties (1 + 2^-8 rounds to even), subnormals, infinities and values past bf16's max.
  std::vector<float> x = random_values(5000, 7, -1e3f, 1e3f);
  x.insert(x.end(), {0.f, -0.f, 1.00390625f, 1.01171875f, 1e-40f, INFINITY, -INFINITY, 3.4e38f});
  Tensor x_d = to_device(x, DType::kF32, stream.get());
  Tensor h_d = Tensor::empty({static_cast<int64_t>(x.size())}, DType::kBF16, Device::cuda(0));
  Tensor back_d = Tensor::empty({static_cast<int64_t>(x.size())}, DType::kF32, Device::cuda(0));
  f32_to_bf16(x_d.data<float>(), h_d.data<uint16_t>(), x.size(), stream.get());
  bf16_to_f32(h_d.data<uint16_t>(), back_d.data<float>(), x.size(), stream.get());
  const auto h = to_host<uint16_t>(h_d, stream.get());
  const auto back = to_host<float>(back_d, stream.get());
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(h[i], float_to_bf16(x[i])) << x[i];
    ASSERT_EQ(back[i], bf16_to_float(h[i])) << x[i];
  }
}

}  // namespace
}  // namespace mlaserve::cuda
