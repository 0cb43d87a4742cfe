#include "kernels/cpu/gemm_bf16_kn.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "runtime/core/dtype.h"
#include "tests/support/random_data.h"

namespace mlaserve::cpu {
namespace {

using testing::random_bf16;
using testing::random_floats;

// The contract: Y[i, j] is the FMA chain over t = 0..k-1 in order from zero, W stored [k, n].
float chain(const float* x, const uint16_t* w, int64_t ldw, int64_t k, int64_t j) {
  float s = 0.0f;
  for (int64_t t = 0; t < k; ++t) s = std::fma(x[t], bf16_to_float(w[t * ldw + j]), s);
  return s;
}

class GemmBf16Kn : public ::testing::TestWithParam<std::pair<int64_t, int64_t>> {};

TEST_P(GemmBf16Kn, EveryOutputIsTheInOrderFmaChainForAnyM) {
  const auto [n, k] = GetParam();
  const int64_t ldw = n + 3, ldx = k + 2, ldy = n + 5;  // strided on purpose
  const auto w = random_bf16(k * ldw, 1);
  for (int64_t m : {1, 2, 4, 5, 9, 32}) {
    const auto x = random_floats(m * ldx, 2 + m);
    std::vector<float> y(m * ldy, 42.0f);
    gemm_bf16_kn(x.data(), ldx, m, w.data(), ldw, k, y.data(), ldy, n);
    double worst = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const float want = chain(x.data() + i * ldx, w.data(), ldw, k, j);
        ASSERT_EQ(0, std::memcmp(&want, &y[i * ldy + j], sizeof(float)))
            << "m=" << m << " i=" << i << " j=" << j;
        double exact = 0;
        for (int64_t t = 0; t < k; ++t)
          exact += static_cast<double>(x[i * ldx + t]) * bf16_to_float(w[t * ldw + j]);
        worst = std::max(worst, std::fabs(exact - y[i * ldy + j]));
      }
    EXPECT_LT(worst, 1e-5 * (k + 8)) << "m=" << m;
    // Outside the n columns nothing is written.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = n; j < ldy && i * ldy + j < static_cast<int64_t>(y.size()); ++j)
        ASSERT_EQ(y[i * ldy + j], 42.0f);
  }
}

// Column counts hit the 64-, 24- and 8-wide tiles and the scalar tail.
INSTANTIATE_TEST_SUITE_P(Shapes, GemmBf16Kn,
                         ::testing::Values(std::pair<int64_t, int64_t>{1, 1},
                                           std::pair<int64_t, int64_t>{7, 3},
                                           std::pair<int64_t, int64_t>{24, 16},
                                           std::pair<int64_t, int64_t>{77, 19},
                                           std::pair<int64_t, int64_t>{256, 64}));

}  // namespace
}  // namespace mlaserve::cpu
