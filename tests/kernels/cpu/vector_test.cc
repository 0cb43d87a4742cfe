#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/convert.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/embedding.h"
#include "kernels/cpu/rms_norm.h"
#include "kernels/cpu/softmax.h"
#include "tests/support/random_data.h"

namespace mlaserve::cpu {
namespace {

using testing::random_bf16;
using testing::random_floats;

const int64_t kSizes[] = {1, 3, 7, 8, 9, 17, 63, 129, 1001};

TEST(Convert, MatchesScalarConversionBitwise) {
  for (int64_t n : kSizes) {
    auto f = random_floats(n, 1, -1e4f, 1e4f);
    if (n > 5) {  // specials and exact ties
      f[0] = std::numeric_limits<float>::quiet_NaN();
      f[1] = std::numeric_limits<float>::infinity();
      f[2] = -0.0f;
      f[3] = bf16_to_float(0x3f80) + std::ldexp(1.0f, -8);  // halfway 1.0 / next: ties to even
      f[4] = 1e-40f;                                        // subnormal
    }
    std::vector<uint16_t> b(n);
    f32_to_bf16(f.data(), b.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(b[i], float_to_bf16(f[i])) << "n=" << n << " i=" << i;
    std::vector<float> back(n);
    bf16_to_f32(b.data(), back.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const float want = bf16_to_float(b[i]);
      ASSERT_TRUE(std::memcmp(&want, &back[i], 4) == 0) << i;
    }
  }
}

TEST(SiluMul, MatchesReference) {
  for (int64_t n : kSizes) {
    auto g = random_floats(n, 2, -30.0f, 30.0f);
    auto u = random_floats(n, 3);
    std::vector<float> out(n);
    silu_mul(g.data(), u.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double gd = g[i];
      const double want = gd / (1.0 + std::exp(-gd)) * u[i];
      ASSERT_NEAR(out[i], want, 3e-7 * std::abs(want) + 1e-30) << "n=" << n << " g=" << g[i];
    }
  }
  // Extremes: no NaN, correct limits.
  std::vector<float> g = {-200.0f, -88.0f, 0.0f, 88.0f, 200.0f}, u(5, 1.0f), out(5);
  silu_mul(g.data(), u.data(), out.data(), 5);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_NEAR(out[1], 0.0f, 1e-30);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], 88.0f);
  EXPECT_EQ(out[4], 200.0f);
}

TEST(Elementwise, AddAxpyScale) {
  for (int64_t n : kSizes) {
    auto y = random_floats(n, 4), x = random_floats(n, 5);
    auto a = y, b = y, c = y;
    add_inplace(a.data(), x.data(), n);
    axpy(b.data(), x.data(), 0.37f, n);
    scale_inplace(c.data(), -1.5f, n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(a[i], y[i] + x[i]);
      ASSERT_NEAR(b[i], y[i] + 0.37 * x[i], 2e-7);
      ASSERT_EQ(c[i], y[i] * -1.5f);
    }
  }
}

TEST(Softmax, MatchesReferenceAndHandlesMaskedRows) {
  for (int64_t n : kSizes) {
    auto x = random_floats(n, 6, -50.0f, 50.0f);
    if (n > 3) x[1] = -std::numeric_limits<float>::infinity();
    std::vector<float> out(n);
    softmax_row(x.data(), out.data(), n);
    double mx = -1e300, sum = 0;
    for (float v : x) mx = std::max(mx, static_cast<double>(v));
    for (float v : x) sum += std::exp(v - mx);
    for (int64_t i = 0; i < n; ++i) {
      const double want = std::exp(x[i] - mx) / sum;
      // x - max rounds in f32 (half an ulp of |x - max|), which exp turns into relative error.
      const double tol = want == 0 ? 0 : want * (5e-7 + 6e-8 * std::abs(x[i] - mx)) + 1e-37;
      ASSERT_NEAR(out[i], want, tol) << "n=" << n << " i=" << i;
    }
  }
  std::vector<float> masked(11, -std::numeric_limits<float>::infinity()), out(11, 5.0f);
  softmax_row(masked.data(), out.data(), 11);
  for (float v : out) EXPECT_EQ(v, 0.0f);
  // In place and huge logits.
  std::vector<float> big = {1e30f, 1e30f, -1e30f};
  softmax_row(big.data(), big.data(), 3);
  EXPECT_FLOAT_EQ(big[0], 0.5f);
  EXPECT_FLOAT_EQ(big[1], 0.5f);
  EXPECT_EQ(big[2], 0.0f);
}

TEST(RmsNorm, MatchesReferenceForBothWeightTypes) {
  for (int64_t n : kSizes) {
    auto x = random_floats(n, 7, -3.0f, 3.0f);
    auto wb = random_bf16(n, 8, 0.5f, 1.5f);
    std::vector<float> wf(n);
    for (int64_t i = 0; i < n; ++i) wf[i] = bf16_to_float(wb[i]);
    double ss = 0;
    for (float v : x) ss += static_cast<double>(v) * v;
    const double r = 1.0 / std::sqrt(ss / n + 1e-6);
    std::vector<float> y1(n), y2(n);
    rms_norm_f32w(x.data(), wf.data(), y1.data(), n, 1e-6f);
    rms_norm_bf16w(x.data(), wb.data(), y2.data(), n, 1e-6f);
    for (int64_t i = 0; i < n; ++i) {
      const double want = x[i] * r * wf[i];
      ASSERT_NEAR(y1[i], want, 1e-6 * (1 + std::abs(want))) << n;
      ASSERT_EQ(y1[i], y2[i]);
    }
    rms_norm_f32w(x.data(), wf.data(), x.data(), n, 1e-6f);  // in place
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(x[i], y1[i]);
  }
}

TEST(Embedding, GathersRowsAndZeroesOtherShards) {
  const int64_t rows = 13, dim = 19;
  const auto table = random_bf16(rows * dim, 9);
  const std::vector<int64_t> ids = {105, 100, 112, 99, 113, 107};  // shard starts at 100
  std::vector<float> out(ids.size() * dim, 3.0f);
  embedding_bf16_to_f32(table.data(), rows, dim, ids.data(), ids.size(), 100, out.data(), dim);
  std::vector<uint16_t> outb(ids.size() * dim, 7);
  embedding_bf16_to_bf16(table.data(), rows, dim, ids.data(), ids.size(), 100, outb.data(), dim);
  for (size_t t = 0; t < ids.size(); ++t) {
    const int64_t r = ids[t] - 100;
    const bool in = r >= 0 && r < rows;
    for (int64_t d = 0; d < dim; ++d) {
      ASSERT_EQ(out[t * dim + d], in ? bf16_to_float(table[r * dim + d]) : 0.0f);
      ASSERT_EQ(outb[t * dim + d], in ? table[r * dim + d] : 0);
    }
  }
}

}  // namespace
}  // namespace mlaserve::cpu
