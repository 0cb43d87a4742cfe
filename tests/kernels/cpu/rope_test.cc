#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "kernels/cpu/rope.h"
#include "runtime/core/dtype.h"
#include "tests/support/random_data.h"

namespace mlaserve::cpu {
namespace {

// DESIGN.md "YaRN", straight from the formulas, in double.
std::vector<double> theta_reference(const RopeParams& p) {
  const int64_t d = p.dim;
  std::vector<double> theta(d / 2);
  double lo = 0, hi = 0;
  if (p.yarn) {
    auto corr = [&](double r) {
      return d * std::log(p.original_max_positions / (2 * std::numbers::pi * r)) /
             (2 * std::log(p.base));
    };
    lo = std::max(std::floor(corr(p.beta_fast)), 0.0);
    hi = std::min(std::ceil(corr(p.beta_slow)), static_cast<double>(d - 1));
    if (lo == hi) hi += 0.001;
  }
  for (int64_t i = 0; i < d / 2; ++i) {
    const double extra = std::pow(p.base, -2.0 * i / d);
    if (!p.yarn) {
      theta[i] = extra;
      continue;
    }
    const double ramp = std::clamp((i - lo) / (hi - lo), 0.0, 1.0);
    theta[i] = extra / p.factor * ramp + extra * (1 - ramp);
  }
  return theta;
}

RopeParams yarn_params(int64_t dim, int64_t original) {
  RopeParams p;
  p.dim = dim;
  p.base = 10000;
  p.yarn = true;
  p.factor = 40;
  p.original_max_positions = original;
  return p;
}

TEST(Rope, InverseFrequenciesMatchTheFormulas) {
  for (RopeParams p : {RopeParams{.dim = 64}, yarn_params(16, 64), yarn_params(64, 4096),
                       yarn_params(32, 4096)}) {
    std::vector<float> inv(p.dim / 2);
    rope_inv_freq(p, inv.data());
    const auto want = theta_reference(p);
    for (int64_t i = 0; i < p.dim / 2; ++i)
      EXPECT_NEAR(inv[i], want[i], 1e-6 * want[i]) << "dim " << p.dim << " i " << i;
  }
}

// The table is cos/sin of the f32 angle f32(pos) * f32(theta), as DeepSeek's reference builds it
// (torch.outer in f32, then torch.polar). This test also records why: against angles formed in
// double, the f32 angles drift far beyond 1e-6 at positions of a few thousand.
TEST(Rope, TableUsesReferenceF32AnglesAndMscale) {
  RopeParams p = yarn_params(32, 4096);
  p.mscale = 1.25;
  const int64_t positions = 5000, half = p.dim / 2;
  std::vector<float> c(positions * half), s(positions * half), inv(half);
  rope_build_table(p, positions, c.data(), s.data());
  rope_inv_freq(p, inv.data());
  double drift = 0;
  for (int64_t pos = 0; pos < positions; ++pos) {
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(pos) * inv[i];
      ASSERT_NEAR(c[pos * half + i], 1.25 * std::cos(static_cast<double>(angle)), 2e-7);
      ASSERT_NEAR(s[pos * half + i], 1.25 * std::sin(static_cast<double>(angle)), 2e-7);
      const double exact = static_cast<double>(pos) * inv[i];
      drift = std::max(drift, std::abs(std::cos(exact) - std::cos(static_cast<double>(angle))));
    }
  }
  EXPECT_GT(drift, 1e-6) << "f32 and double angles agree; either choice would do";
  RecordProperty("max_cos_drift_f32_vs_double_angle", std::to_string(drift));
}

template <typename T>
void check_apply(bool bf16) {
  const int64_t T_ = 5, H = 3, dim = 16, head_stride = 24, token_stride = 80;  // padded, strided
  RopeParams p = yarn_params(dim, 64);
  const int64_t positions = 200, half = dim / 2;
  std::vector<float> c(positions * half), s(positions * half);
  rope_build_table(p, positions, c.data(), s.data());
  const std::vector<int64_t> pos = {0, 199, 63, 64, 7};
  const auto init = testing::random_floats(T_ * token_stride, 21);
  std::vector<T> x(init.size());
  for (size_t i = 0; i < init.size(); ++i) {
    if constexpr (std::is_same_v<T, float>) x[i] = init[i];
    else x[i] = float_to_bf16(init[i]);
  }
  auto value = [&](const std::vector<T>& v, size_t i) -> double {
    if constexpr (std::is_same_v<T, float>) return v[i];
    else return bf16_to_float(v[i]);
  };
  const std::vector<T> before = x;
  if constexpr (std::is_same_v<T, float>)
    rope_apply_f32(x.data(), T_, H, dim, token_stride, head_stride, pos.data(), c.data(), s.data());
  else
    rope_apply_bf16(x.data(), T_, H, dim, token_stride, head_stride, pos.data(), c.data(), s.data());
  const double tol = bf16 ? 8e-3 : 1e-6;
  std::vector<bool> touched(x.size(), false);
  for (int64_t t = 0; t < T_; ++t)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < half; ++i) {
        const size_t a = t * token_stride + h * head_stride + 2 * i;
        const double cs = c[pos[t] * half + i], sn = s[pos[t] * half + i];
        const double x0 = value(before, a), x1 = value(before, a + 1);
        EXPECT_NEAR(value(x, a), x0 * cs - x1 * sn, tol);
        EXPECT_NEAR(value(x, a + 1), x0 * sn + x1 * cs, tol);
        touched[a] = touched[a + 1] = true;
      }
  for (size_t i = 0; i < x.size(); ++i)
    if (!touched[i]) ASSERT_EQ(value(x, i), value(before, i)) << "changed padding at " << i;
}

TEST(Rope, ApplyRotatesInterleavedPairsF32) { check_apply<float>(false); }
TEST(Rope, ApplyRotatesInterleavedPairsBf16) { check_apply<uint16_t>(true); }

}  // namespace
}  // namespace mlaserve::cpu
