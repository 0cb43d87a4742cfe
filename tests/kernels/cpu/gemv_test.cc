#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemv_bf16.h"
#include "tests/support/random_data.h"

namespace mlaserve::cpu {
namespace {

using testing::random_bf16;
using testing::random_floats;

// Y[i, j] = sum_t X[i, t] * W[j, t] in double.
std::vector<double> reference(const std::vector<float>& x, int64_t m, const std::vector<float>& w,
                              int64_t n, int64_t k) {
  std::vector<double> y(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t t = 0; t < k; ++t) s += static_cast<double>(x[i * k + t]) * w[j * k + t];
      y[i * n + j] = s;
    }
  return y;
}

std::vector<float> widen(const std::vector<uint16_t>& w) {
  std::vector<float> f(w.size());
  for (size_t i = 0; i < w.size(); ++i) f[i] = bf16_to_float(w[i]);
  return f;
}

// Each output is a k-term f32 dot product: error bound ~ k * eps * sum |x w|.
double tolerance(int64_t k) { return 2e-7 * (k + 8); }

void expect_close(const std::vector<double>& ref, const std::vector<float>& got, int64_t k,
                  const char* what) {
  ASSERT_EQ(ref.size(), got.size());
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_NEAR(got[i], ref[i], tolerance(k) * (1 + std::abs(ref[i]))) << what << " at " << i;
}

class LinearKernels : public ::testing::TestWithParam<std::pair<int64_t, int64_t>> {};

TEST_P(LinearKernels, GemvMatchesReference) {
  const auto [n, k] = GetParam();
  const auto w = random_bf16(n * k, 1);
  const auto x = random_floats(k, 2);
  std::vector<float> y(n, -7.0f);
  gemv_bf16(w.data(), k, k, x.data(), y.data(), 0, n);
  expect_close(reference(x, 1, widen(w), n, k), y, k, "gemv");
}

TEST_P(LinearKernels, SmallMMatchesReferenceAndGemvBitwise) {
  const auto [n, k] = GetParam();
  const auto w = random_bf16(n * k, 3);
  for (int64_t m : {2, 3, 4, 5, 7, 8, 13, 16, 33}) {
    const auto x = random_floats(m * k, 4 + m);
    std::vector<float> y(m * n);
    gemm_bf16_small_m(x.data(), k, m, w.data(), k, k, y.data(), n, 0, n);
    expect_close(reference(x, m, widen(w), n, k), y, k, "small_m");
    // Same recipe per output as the GEMV: a sequence's logits do not depend on its batch.
    for (int64_t i = 0; i < m; ++i) {
      std::vector<float> yi(n);
      gemv_bf16(w.data(), k, k, x.data() + i * k, yi.data(), 0, n);
      ASSERT_EQ(0, std::memcmp(yi.data(), y.data() + i * n, n * sizeof(float)))
          << "m=" << m << " row " << i;
    }
  }
}

TEST_P(LinearKernels, GemmBf16AndF32MatchReference) {
  const auto [n, k] = GetParam();
  const auto w = random_bf16(n * k, 5);
  const auto wf = widen(w);
  std::vector<float> scratch(kGemmPanelRows * k);
  for (int64_t m : {1, 17, 33}) {
    const auto x = random_floats(m * k, 6 + m);
    const auto ref = reference(x, m, wf, n, k);
    std::vector<float> y(m * n);
    gemm_bf16(x.data(), k, m, w.data(), k, k, y.data(), n, 0, n, scratch.data());
    expect_close(ref, y, k, "gemm_bf16");
    std::vector<float> y2(m * n);
    gemm_f32(x.data(), k, m, wf.data(), k, k, y2.data(), n, 0, n);
    expect_close(ref, y2, k, "gemm_f32");
  }
}

// Odd sizes on purpose: tails in n (rows of 4 / 3) and in k (steps of 8).
INSTANTIATE_TEST_SUITE_P(Shapes, LinearKernels,
                         ::testing::Values(std::pair<int64_t, int64_t>{1, 1},
                                           std::pair<int64_t, int64_t>{5, 7},
                                           std::pair<int64_t, int64_t>{37, 9},
                                           std::pair<int64_t, int64_t>{67, 131},
                                           std::pair<int64_t, int64_t>{130, 517},
                                           std::pair<int64_t, int64_t>{3, 1024}));

TEST(LinearKernels, SubRangesGiveTheSameBits) {
  const int64_t n = 101, k = 75, m = 6;
  const auto w = random_bf16(n * k, 9);
  const auto x = random_floats(m * k, 10);
  std::vector<float> whole(m * n), parts(m * n);
  gemm_bf16_small_m(x.data(), k, m, w.data(), k, k, whole.data(), n, 0, n);
  for (int64_t b = 0; b < n; b += 13)
    gemm_bf16_small_m(x.data(), k, m, w.data(), k, k, parts.data(), n, b, std::min(n, b + 13));
  EXPECT_EQ(0, std::memcmp(whole.data(), parts.data(), whole.size() * sizeof(float)));
}

TEST(LinearKernels, StridedInputsAndOutputs) {
  const int64_t n = 19, k = 23, m = 3, ldx = 31, ldy = 29;
  const auto w = random_bf16(n * k, 11);
  const auto xbuf = random_floats(m * ldx, 12);
  std::vector<float> x(m * k);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t t = 0; t < k; ++t) x[i * k + t] = xbuf[i * ldx + t];
  std::vector<float> y(m * ldy, 42.0f);
  gemm_bf16_small_m(xbuf.data(), ldx, m, w.data(), k, k, y.data(), ldy, 0, n);
  const auto ref = reference(x, m, widen(w), n, k);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) EXPECT_NEAR(y[i * ldy + j], ref[i * n + j], 1e-5);
    for (int64_t j = n; j < ldy; ++j) EXPECT_EQ(y[i * ldy + j], 42.0f) << "wrote past the row";
  }
}

}  // namespace
}  // namespace mlaserve::cpu
