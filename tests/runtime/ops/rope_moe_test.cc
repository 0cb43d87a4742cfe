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

// tiny-v2's routing fields (tests/data/tiny-v2/config.json) as plain options
// (runtime/model/moe.h derives them from the config: moe_route_options).
MoeRouteOptions tiny_v2_routing() {
  return MoeRouteOptions{.top_k = 4, .n_group = 4, .topk_group = 2, .norm_topk_prob = false,
                         .routed_scaling_factor = 16};
}

// tiny-v2's rope fields as plain options (runtime/model/rope_options.h derives them from the
// config; tests/runtime/model/rope_options_test.cc checks that).
RopeOptions tiny_v2_rope() {
  return RopeOptions{.dim = 16, .base = 10000, .yarn = true, .factor = 40,
                     .original_max_positions = 64, .beta_fast = 32, .beta_slow = 1,
                     .mscale = 1};
}

TEST(RopeOp, TableFollowsYarnAndMscaleRatio) {
  RopeOptions o = tiny_v2_rope();
  const RopeTable t = make_rope_table(o, 300);
  EXPECT_EQ(t.cos.shape(), (Shape{300, 8}));
  EXPECT_EQ(t.rope_dim, 16);
  // lo = 0, hi = 3 for these options: i = 0 keeps theta = 1, i >= 3 is fully interpolated.
  const auto cv = values(t.cos);
  EXPECT_NEAR(cv[1 * 8 + 0], std::cos(1.0), 1e-7);
  const double theta7 = std::pow(10000.0, -14.0 / 16) / 40;
  EXPECT_NEAR(cv[1 * 8 + 7], std::cos(theta7), 1e-7);
  EXPECT_NEAR(cv[250 * 8 + 7], std::cos(250 * theta7), 1e-6);
  // The mscale ratio multiplies cos/sin.
  const double ratio = 0.1 * 0.707 * std::log(40.0) + 1;
  o.mscale = ratio;
  const RopeTable t2 = make_rope_table(o, 300);
  EXPECT_NEAR(values(t2.cos)[9], ratio * cv[9], 1e-6);
  o.yarn = false;
  const auto plain = values(make_rope_table(o, 4).cos);
  EXPECT_NEAR(plain[1 * 8 + 7], std::cos(std::pow(10000.0, -14.0 / 16)), 1e-7);
  o.dim = 15;
  EXPECT_THROW(make_rope_table(o, 4), Error);
  EXPECT_THROW(make_rope_table(tiny_v2_rope(), 0), Error);
  EXPECT_THROW(make_rope_table(RopeOptions{.dim = 16, .base = 1}, 4), Error);
  EXPECT_THROW(make_rope_table(RopeOptions{.dim = 16, .yarn = true, .factor = 40}, 4), Error);
}

TEST(RopeOp, RotatesTheRopeSliceOfQOnly) {
  const RopeTable table = make_rope_table(tiny_v2_rope(), 100);
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

TEST(MoeRouteOp, GroupLimitedAndThreadIndependent) {
  const MoeRouteOptions c = tiny_v2_routing();
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
  MoeRouteOptions o = c;
  o.top_k = 9;  // more than the 8 experts of two groups
  EXPECT_THROW(moe_route(logits, o), Error);
  o = c;
  o.n_group = 5;
  EXPECT_THROW(moe_route(logits, o), Error);
}

}  // namespace
}  // namespace mlaserve::ops
