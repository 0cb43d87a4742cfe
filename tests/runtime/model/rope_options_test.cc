// rope_options: the RoPE table's plain options from a checkpoint config (the op never sees a
// ModelConfig). The table built from them is the one the reference cases were made with.
#include "runtime/model/rope_options.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "tests/runtime/ops/test_tensors.h"

namespace mlaserve {
namespace {

ModelConfig tiny_v2() {
  return load_model_config(std::filesystem::path(MLASERVE_TEST_DATA_DIR) / "tiny-v2");
}

TEST(RopeOptions, YarnFieldsFromTheConfig) {
  const ModelConfig c = tiny_v2();
  const ops::RopeOptions o = rope_options(c);
  EXPECT_EQ(o.dim, 16);
  EXPECT_EQ(o.base, 10000);
  EXPECT_TRUE(o.yarn);
  EXPECT_EQ(o.factor, 40);
  EXPECT_EQ(o.original_max_positions, 64);
  EXPECT_EQ(o.beta_fast, 32);
  EXPECT_EQ(o.beta_slow, 1);
  EXPECT_EQ(o.mscale, 1.0);  // mscale == mscale_all_dim: the ratio is exactly 1
}

TEST(RopeOptions, MscaleRatioAndPlainRope) {
  ModelConfig c = tiny_v2();
  const auto cv = ops::testing::values(ops::make_rope_table(rope_options(c), 300).cos);
  const double theta7 = std::pow(10000.0, -14.0 / 16) / 40;
  EXPECT_NEAR(cv[1 * 8 + 7], std::cos(theta7), 1e-7);
  // mscale != mscale_all_dim scales cos/sin by their ratio.
  c.rope_scaling->mscale_all_dim = 0;
  const double ratio = 0.1 * 0.707 * std::log(40.0) + 1;
  EXPECT_DOUBLE_EQ(rope_options(c).mscale, ratio);
  const auto scaled = ops::testing::values(ops::make_rope_table(rope_options(c), 300).cos);
  EXPECT_NEAR(scaled[9], ratio * cv[9], 1e-6);
  // Without rope_scaling: plain RoPE, theta_i = base^(-2i/d).
  c.rope_scaling.reset();
  const ops::RopeOptions plain = rope_options(c);
  EXPECT_FALSE(plain.yarn);
  EXPECT_EQ(plain.mscale, 1.0);
  const auto pv = ops::testing::values(ops::make_rope_table(plain, 4).cos);
  EXPECT_NEAR(pv[1 * 8 + 7], std::cos(std::pow(10000.0, -14.0 / 16)), 1e-7);
}

}  // namespace
}  // namespace mlaserve
