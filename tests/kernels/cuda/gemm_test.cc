// cuda::linear (and the cuBLAS call under it, cuda::gemm_nt) against plain loops in double:
// every x / w / y dtype, decode and odd shapes, strided rows. The bound per element is the one
// kernels/cuda/linear.h documents, so the f32-activation case checks the split-precision product
// keeps f32 precision (rounding x to bf16 would miss it by ~100x).
#include "kernels/cuda/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/context.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/linear.h"
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

std::vector<float> rounded(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = bf16_to_float(float_to_bf16(v[i]));
  return out;
}

struct Reference {
  std::vector<double> y;      // Σ x·w in double
  std::vector<double> scale;  // Σ |x·w|: what the error bounds are relative to
};

// x [m, ldx], w [n, k] as the kernel sees them (already rounded where they are bf16).
Reference reference(const Case& c, const std::vector<float>& x, int64_t ldx,
                    const std::vector<float>& w) {
  Reference r{std::vector<double>(static_cast<size_t>(c.m * c.n)),
              std::vector<double>(static_cast<size_t>(c.m * c.n))};
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      double sum = 0, scale = 0;
      for (int64_t p = 0; p < c.k; ++p) {
        const double prod = double{x[i * ldx + p]} * w[j * c.k + p];
        sum += prod;
        scale += std::abs(prod);
      }
      r.y[i * c.n + j] = sum;
      r.scale[i * c.n + j] = scale;
    }
  return r;
}

class CudaLinear : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  }
};

// Every dtype combination on rows `ldx` / `ldy` apart (ld > row length: a column slice).
TEST_P(CudaLinear, MatchesPlainLoopsForEveryDtype) {
  const Case c = GetParam();
  cudaStream_t stream = compute_stream(0);
  cublasHandle_t handle = cublas_handle(0);
  const int64_t ldx = c.k + 3, ldy = c.n + 5;
  const std::vector<float> x = random_values(static_cast<size_t>(c.m * ldx), 1);
  const std::vector<float> w = random_values(static_cast<size_t>(c.n * c.k), 2);
  const std::vector<float> x16 = rounded(x), w16 = rounded(w);

  for (bool x_bf16 : {false, true})
    for (bool w_bf16 : {true, false})
      for (bool y_bf16 : {false, true}) {
        SCOPED_TRACE(str_cat("x ", x_bf16 ? "bf16" : "f32", ", w ", w_bf16 ? "bf16" : "f32",
                             ", y ", y_bf16 ? "bf16" : "f32"));
        const Reference want = reference(c, x_bf16 ? x16 : x, ldx, w_bf16 ? w16 : w);
        const Tensor x_d = x_bf16 ? to_device(to_bf16(x), DType::kBF16, stream)
                                  : to_device(x, DType::kF32, stream);
        const Tensor w_d = w_bf16 ? to_device(to_bf16(w), DType::kBF16, stream)
                                  : to_device(w, DType::kF32, stream);
        const Tensor y_d = Tensor::empty({c.m * ldy}, y_bf16 ? DType::kBF16 : DType::kF32,
                                         Device::cuda(0));
        linear({x_d.raw_data(), x_bf16, ldx, w_d.raw_data(), w_bf16, y_d.raw_data(), y_bf16, ldy,
                c.m, c.n, c.k},
               handle, stream);
        std::vector<float> got(static_cast<size_t>(c.m * ldy));
        if (y_bf16) {
          const std::vector<uint16_t> bits = to_host<uint16_t>(y_d, stream);
          for (size_t i = 0; i < bits.size(); ++i) got[i] = bf16_to_float(bits[i]);
        } else {
          got = to_host<float>(y_d, stream);
        }
        // f32 accumulation in any order errs by at most ~k·2^-24 · Σ|x·w| (twice that, for
        // tensor cores that truncate). f32 x on bf16 weights adds the split's 2^-16 · Σ|x·w|
        // (linear.h); x rounded to bf16 instead would err by up to 2^-8 · Σ|x·w|.
        const double accumulation = 2.0 * static_cast<double>(c.k) * std::ldexp(1.0, -24);
        const double split = !x_bf16 && w_bf16 ? std::ldexp(1.0, -16) : 0.0;
        for (int64_t i = 0; i < c.m; ++i)
          for (int64_t j = 0; j < c.n; ++j) {
            const double y = want.y[i * c.n + j], scale = want.scale[i * c.n + j];
            double tol = (split + accumulation) * scale + 1e-7;
            if (y_bf16) tol += std::abs(y) / 256;  // one rounding to 8 significant bits
            ASSERT_NEAR(got[i * ldy + j], y, tol) << "row " << i << " col " << j;
          }
      }
}

// Decode (m = 1), odd sizes that fit no tile, and a prefill-like block.
INSTANTIATE_TEST_SUITE_P(Shapes, CudaLinear,
                         ::testing::Values(Case{1, 64, 128}, Case{5, 7, 33}, Case{64, 96, 576}),
                         [](const auto& info) {
                           const Case& c = info.param;
                           return str_cat("m", c.m, "_n", c.n, "_k", c.k);
                         });

TEST(CudaLinearContract, EmptySumIsZeroAndBadCallsAreRefused) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  cudaStream_t stream = compute_stream(0);
  cublasHandle_t handle = cublas_handle(0);
  const Tensor x = to_device(std::vector<float>{1, 2}, DType::kF32, stream);
  const Tensor w = to_device(to_bf16({1, 1, 0, 3}), DType::kBF16, stream);
  Tensor y = to_device(std::vector<float>{10, 20}, DType::kF32, stream);
  // k = 0: y = 0 (cuBLAS alone would leave it as it was).
  linear({x.raw_data(), false, 0, w.raw_data(), true, y.raw_data(), false, 2, 1, 2, 0}, handle,
         stream);
  EXPECT_EQ(to_host<float>(y, stream), (std::vector<float>{0, 0}));
  // x = [1, 2], w = [[1, 1], [0, 3]]: y = [3, 6] exactly through the split path.
  linear({x.raw_data(), false, 2, w.raw_data(), true, y.raw_data(), false, 2, 1, 2, 2}, handle,
         stream);
  EXPECT_EQ(to_host<float>(y, stream), (std::vector<float>{3, 6}));

  // Rows of y overlapping (ldy < n) for m > 1, a stream the handle is not bound to, sizes
  // beyond cuBLAS's int, and types cuBLAS has no kernel for.
  EXPECT_THROW(linear({x.raw_data(), false, 1, w.raw_data(), true, y.raw_data(), false, 1, 2, 2, 1},
                      handle, stream),
               Error);
  CudaStream other;
  EXPECT_THROW(linear({x.raw_data(), false, 2, w.raw_data(), true, y.raw_data(), false, 2, 1, 2, 2},
                      handle, other.get()),
               Error);
  EXPECT_THROW(gemm_nt(handle, {x.raw_data(), CUDA_R_16BF, int64_t{1} << 40, w.raw_data(),
                                CUDA_R_16BF, int64_t{1} << 40, y.raw_data(), CUDA_R_32F, 2, 1, 2,
                                int64_t{1} << 40}),
               Error);
  EXPECT_THROW(gemm_nt(handle, {x.raw_data(), CUDA_R_32F, 2, w.raw_data(), CUDA_R_16BF, 2,
                                y.raw_data(), CUDA_R_32F, 2, 1, 2, 2}),
               Error);
  EXPECT_THROW(gemm_nt(handle, {x.raw_data(), CUDA_R_16F, 2, w.raw_data(), CUDA_R_16F, 2,
                                y.raw_data(), CUDA_R_32F, 2, 1, 2, 2}),
               Error);
}

}  // namespace
}  // namespace mlaserve::cuda
