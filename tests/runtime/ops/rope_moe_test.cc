#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "runtime/core/error.h"
#include "runtime/ops/moe_route.h"
#include "runtime/ops/rope.h"
#include "tests/runtime/ops/test_tensors.h"

namespace mlaserve::ops {
namespace {

using testing::random_tensor;
using testing::values;

// tiny-v2's attention and routing fields (tests/data/tiny-v2/config.json), filled by hand.
ModelConfig tiny_v2() {
  ModelConfig c;
  c.num_attention_heads = 8;
  c.qk_nope_head_dim = 16;
  c.qk_rope_head_dim = 16;
  c.rope_theta = 10000;
  c.rope_scaling = YarnScaling{.factor = 40, .original_max_position_embeddings = 64,
                               .beta_fast = 32, .beta_slow = 1, .mscale = 0.707,
                               .mscale_all_dim = 0.707};
  c.n_routed_experts = 16;
  c.num_experts_per_tok = 4;
  c.n_group = 4;
  c.topk_group = 2;
  c.topk_method = TopkMethod::kGroupLimitedGreedy;
  c.routed_scaling_factor = 16;
  return c;
}

TEST(RopeOp, TableFollowsYarnAndMscaleRatio) {
  ModelConfig c = tiny_v2();
  const RopeTable t = make_rope_table(c, 300);
  EXPECT_EQ(t.cos.shape(), (Shape{300, 8}));
  EXPECT_EQ(t.rope_dim, 16);
  // lo = 0, hi = 3 for this config: i = 0 keeps theta = 1, i >= 3 is fully interpolated.
  const auto cv = values(t.cos);
  EXPECT_NEAR(cv[1 * 8 + 0], std::cos(1.0), 1e-7);
  const double theta7 = std::pow(10000.0, -14.0 / 16) / 40;
  EXPECT_NEAR(cv[1 * 8 + 7], std::cos(theta7), 1e-7);
  EXPECT_NEAR(cv[250 * 8 + 7], std::cos(250 * theta7), 1e-6);
  // mscale != mscale_all_dim scales cos/sin by their ratio.
  c.rope_scaling->mscale_all_dim = 0;
  const RopeTable t2 = make_rope_table(c, 300);
  const double ratio = 0.1 * 0.707 * std::log(40.0) + 1;
  EXPECT_NEAR(values(t2.cos)[9], ratio * cv[9], 1e-6);
  c.rope_scaling.reset();
  const auto plain = values(make_rope_table(c, 4).cos);
  EXPECT_NEAR(plain[1 * 8 + 7], std::cos(std::pow(10000.0, -14.0 / 16)), 1e-7);
  c.qk_rope_head_dim = 15;
  EXPECT_THROW(make_rope_table(c, 4), Error);
}

TEST(RopeOp, RotatesTheRopeSliceOfQOnly) {
  const ModelConfig c = tiny_v2();
  const RopeTable table = make_rope_table(c, 100);
  for (DType dt : {DType::kF32, DType::kBF16}) {
    const Tensor q = random_tensor({3, 8, 32}, dt, 1);  // [T, H, nope 16 | rope 16]
    const auto before = values(q);
    const Tensor pos = Tensor::empty({3}, DType::kI64);
    pos.data<int64_t>()[0] = 0;
    pos.data<int64_t>()[1] = 99;
    pos.data<int64_t>()[2] = 65;
    apply_rope(q.slice(2, 16, 32), pos, table);
    const auto after = values(q), cv = values(table.cos), sv = values(table.sin);
    const double tol = dt == DType::kBF16 ? 8e-3 : 1e-6;
    for (int t = 0; t < 3; ++t)
      for (int h = 0; h < 8; ++h) {
        const int base = (t * 8 + h) * 32;
        for (int d = 0; d < 16; ++d) ASSERT_EQ(after[base + d], before[base + d]);
        for (int i = 0; i < 8; ++i) {
          const double a = before[base + 16 + 2 * i], b = before[base + 17 + 2 * i];
          const double cs = cv[pos.data<int64_t>()[t] * 8 + i], sn = sv[pos.data<int64_t>()[t] * 8 + i];
          ASSERT_NEAR(after[base + 16 + 2 * i], a * cs - b * sn, tol);
          ASSERT_NEAR(after[base + 17 + 2 * i], a * sn + b * cs, tol);
        }
      }
  }
  const Tensor bad = Tensor::empty({1}, DType::kI32);
  bad.data<int32_t>()[0] = 100;
  EXPECT_THROW(apply_rope(random_tensor({1, 16}, DType::kF32, 1), bad, table), Error);
  EXPECT_THROW(apply_rope(random_tensor({1, 15}, DType::kF32, 1),
                          Tensor::zeros({1}, DType::kI32), table), Error);
}

TEST(MoeRouteOp, GroupLimitedFromConfigAndThreadIndependent) {
  const ModelConfig c = tiny_v2();
  const Tensor logits = random_tensor({37, 16}, DType::kF32, 2, -3, 3);
  auto [one, two] = testing::with_1_and_2_threads([&] { return moe_route(logits, c).ids; });
  EXPECT_TRUE(testing::same_bits(one, two));
  const MoeRouting r = moe_route(logits, c);
  EXPECT_EQ(r.ids.shape(), (Shape{37, 4}));
  const auto lv = values(logits);
  for (int t = 0; t < 37; ++t) {
    // Chosen experts come from at most 2 groups of 4, and weights are 16 x softmax.
    std::set<int> groups;
    double mx = -1e300, s = 0;
    for (int e = 0; e < 16; ++e) mx = std::max(mx, lv[t * 16 + e]);
    for (int e = 0; e < 16; ++e) s += std::exp(lv[t * 16 + e] - mx);
    for (int i = 0; i < 4; ++i) {
      const int id = r.ids.data<int32_t>()[t * 4 + i];
      groups.insert(id / 4);
      EXPECT_NEAR(r.weights.data<float>()[t * 4 + i], 16 * std::exp(lv[t * 16 + id] - mx) / s, 1e-5);
    }
    EXPECT_LE(groups.size(), 2u);
  }
  MoeRouteOptions o = MoeRouteOptions::from_config(c);
  o.top_k = 9;  // more than the 8 experts of two groups
  EXPECT_THROW(moe_route(logits, o), Error);
  o = MoeRouteOptions::from_config(c);
  o.n_group = 5;
  EXPECT_THROW(moe_route(logits, o), Error);
}

}  // namespace
}  // namespace mlaserve::ops
