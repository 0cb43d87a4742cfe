#include "kernels/cuda/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/device.h"
#include "kernels/cuda/stream.h"
#include "runtime/core/dtype.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace mlaserve::cuda {
namespace {

using testing::to_device;
using testing::to_host;

struct Case {
  int64_t m, n, k;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.m << "x" << c.n << "x" << c.k; }

std::vector<float> random_values(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = float_to_bf16(v[i]);
  return out;
}

// The contract in plain loops: both operands rounded to bf16, products summed in double.
std::vector<double> reference(const Case& c, const std::vector<float>& x,
                              const std::vector<uint16_t>& w) {
  std::vector<double> y(static_cast<size_t>(c.m * c.n));
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < c.k; ++p)
        sum += double{bf16_to_float(float_to_bf16(x[i * c.k + p]))} * bf16_to_float(w[j * c.k + p]);
      y[i * c.n + j] = sum;
    }
  return y;
}

class GemmBf16Weights : public ::testing::TestWithParam<Case> {};

TEST_P(GemmBf16Weights, MatchesNaiveLoopForF32AndBf16Activations) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const Case c = GetParam();
  const std::vector<float> x = random_values(c.m * c.k, 1);
  const std::vector<uint16_t> w = to_bf16(random_values(c.n * c.k, 2));
  const std::vector<double> want = reference(c, x, w);
  const double tol = 1e-5 * static_cast<double>(c.k) + 1e-5;  // f32 accumulation, any order

  CudaStream stream;
  auto handle = make_cublas_handle();
  const Tensor w_d = to_device(w, DType::kBF16, stream.get());
  const Tensor x32_d = to_device(x, DType::kF32, stream.get());
  const Tensor x16_d = to_device(to_bf16(x), DType::kBF16, stream.get());
  Tensor y32_d = Tensor::empty({c.m * c.n}, DType::kF32, Device::cuda(0));
  Tensor y16_d = Tensor::empty({c.m * c.n}, DType::kBF16, Device::cuda(0));

  gemm_bf16_weights(handle.get(), stream.get(), c.m, c.n, c.k, x32_d.raw_data(), CUDA_R_32F,
                    w_d.data<uint16_t>(), y32_d.raw_data(), CUDA_R_32F);
  const std::vector<float> y_from_f32 = to_host<float>(y32_d, stream.get());
  gemm_bf16_weights(handle.get(), stream.get(), c.m, c.n, c.k, x16_d.raw_data(), CUDA_R_16BF,
                    w_d.data<uint16_t>(), y32_d.raw_data(), CUDA_R_32F);
  const std::vector<float> y_from_bf16 = to_host<float>(y32_d, stream.get());
  gemm_bf16_weights(handle.get(), stream.get(), c.m, c.n, c.k, x16_d.raw_data(), CUDA_R_16BF,
                    w_d.data<uint16_t>(), y16_d.raw_data(), CUDA_R_16BF);
  const std::vector<uint16_t> y_bf16 = to_host<uint16_t>(y16_d, stream.get());

  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(y_from_f32[i], want[i], tol) << "f32 x, element " << i;
    ASSERT_NEAR(y_from_bf16[i], want[i], tol) << "bf16 x, element " << i;
    // A bf16 result carries 8 significant bits.
    ASSERT_NEAR(bf16_to_float(y_bf16[i]), want[i], std::abs(want[i]) / 128 + tol) << "bf16 y, " << i;
  }
}

// Decode (m = 1), odd sizes that fit no tile, and a prefill-like block.
INSTANTIATE_TEST_SUITE_P(Shapes, GemmBf16Weights,
                         ::testing::Values(Case{1, 64, 128}, Case{5, 7, 33}, Case{64, 96, 576}),
                         [](const auto& info) {
                           const Case& c = info.param;
                           return str_cat("m", c.m, "_n", c.n, "_k", c.k);
                         });

TEST(GemmBf16WeightsContract, AccumulatesWithAlphaBetaAndRejectsBadShapes) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  CudaStream stream;
  auto handle = make_cublas_handle();
  // x = [1, 2], w = [[1, 1], [0, 3]]: x·w^T = [3, 6]; y = 2·[3, 6] + 1·[10, 20].
  const Tensor x = to_device(std::vector<float>{1, 2}, DType::kF32, stream.get());
  const Tensor w = to_device(to_bf16({1, 1, 0, 3}), DType::kBF16, stream.get());
  Tensor y = to_device(std::vector<float>{10, 20}, DType::kF32, stream.get());
  gemm_bf16_weights(handle.get(), stream.get(), 1, 2, 2, x.raw_data(), CUDA_R_32F,
                    w.data<uint16_t>(), y.raw_data(), CUDA_R_32F, 2.f, 1.f);
  EXPECT_EQ(to_host<float>(y, stream.get()), (std::vector<float>{16, 32}));
  EXPECT_THROW(gemm_bf16_weights(handle.get(), stream.get(), 1, 2, int64_t{1} << 40, x.raw_data(),
                                 CUDA_R_32F, w.data<uint16_t>(), y.raw_data(), CUDA_R_32F),
               Error);
  EXPECT_THROW(gemm_bf16_weights(handle.get(), stream.get(), 1, 2, 2, x.raw_data(), CUDA_R_16F,
                                 w.data<uint16_t>(), y.raw_data(), CUDA_R_32F),
               Error);
}

}  // namespace
}  // namespace mlaserve::cuda
