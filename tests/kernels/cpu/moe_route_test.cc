#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/cpu/moe_route.h"
#include "tests/support/random_data.h"

namespace mlaserve::cpu {
namespace {

struct Route {
  std::vector<int32_t> ids;
  std::vector<double> weights;
};

// Straightforward reference: double softmax, stable sorts (ties -> lower index).
Route reference(const float* logits, const MoeRouteParams& p) {
  const int64_t E = p.n_experts;
  double mx = -1e300, sum = 0;
  for (int64_t e = 0; e < E; ++e) mx = std::max(mx, static_cast<double>(logits[e]));
  std::vector<double> s(E);
  for (int64_t e = 0; e < E; ++e) sum += s[e] = std::exp(logits[e] - mx);
  for (auto& v : s) v /= sum;
  std::vector<bool> allowed(E, true);
  if (p.n_group > 1) {
    const int64_t gs = E / p.n_group;
    std::vector<int64_t> groups(p.n_group);
    std::iota(groups.begin(), groups.end(), 0);
    std::vector<double> gscore(p.n_group);
    for (int64_t g = 0; g < p.n_group; ++g)
      gscore[g] = *std::max_element(s.begin() + g * gs, s.begin() + (g + 1) * gs);
    std::stable_sort(groups.begin(), groups.end(),
                     [&](int64_t a, int64_t b) { return gscore[a] > gscore[b]; });
    std::fill(allowed.begin(), allowed.end(), false);
    for (int64_t r = 0; r < p.topk_group; ++r)
      for (int64_t e = 0; e < gs; ++e) allowed[groups[r] * gs + e] = true;
  }
  std::vector<int32_t> order;
  for (int64_t e = 0; e < E; ++e)
    if (allowed[e]) order.push_back(static_cast<int32_t>(e));
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return s[a] > s[b]; });
  Route r;
  double total = 0;
  for (int64_t i = 0; i < p.top_k; ++i) {
    r.ids.push_back(order[i]);
    r.weights.push_back(s[order[i]]);
    total += s[order[i]];
  }
  for (auto& w : r.weights) w = p.norm_topk_prob ? w / total : w * p.routed_scaling_factor;
  return r;
}

void check(const std::vector<float>& logits, int64_t T, const MoeRouteParams& p) {
  std::vector<int32_t> ids(T * p.top_k);
  std::vector<float> w(T * p.top_k), scratch(p.n_experts + p.n_group);
  moe_route(logits.data(), T, p, ids.data(), w.data(), scratch.data());
  for (int64_t t = 0; t < T; ++t) {
    const Route want = reference(logits.data() + t * p.n_experts, p);
    for (int64_t i = 0; i < p.top_k; ++i) {
      ASSERT_EQ(ids[t * p.top_k + i], want.ids[i]) << "token " << t << " slot " << i;
      ASSERT_NEAR(w[t * p.top_k + i], want.weights[i], 1e-6 * want.weights[i] + 1e-12);
    }
  }
}

TEST(MoeRoute, GreedyScaled) {
  MoeRouteParams p{.n_experts = 37, .top_k = 5, .routed_scaling_factor = 16.0f};
  check(testing::random_floats(11 * 37, 1, -4, 4), 11, p);
}

TEST(MoeRoute, GreedyRenormalised) {
  MoeRouteParams p{.n_experts = 8, .top_k = 2, .norm_topk_prob = true};
  check(testing::random_floats(9 * 8, 2, -4, 4), 9, p);
}

TEST(MoeRoute, GroupLimited) {
  MoeRouteParams p{.n_experts = 32, .top_k = 6, .n_group = 8, .topk_group = 3,
                   .routed_scaling_factor = 16.0f};
  check(testing::random_floats(23 * 32, 3, -4, 4), 23, p);
}

TEST(MoeRoute, GroupScoreIsTheMaxNotTheSum) {
  // Group 0 has the single best expert; group 1 has many good ones (larger sum). With one group
  // kept, only group 0's experts may be chosen.
  MoeRouteParams p{.n_experts = 8, .top_k = 2, .n_group = 2, .topk_group = 1};
  const std::vector<float> logits = {5.0f, -9, -9, -9, 4.5f, 4.5f, 4.5f, 4.5f};
  std::vector<int32_t> ids(2);
  std::vector<float> w(2), scratch(10);
  moe_route(logits.data(), 1, p, ids.data(), w.data(), scratch.data());
  EXPECT_EQ(ids[0], 0);
  EXPECT_EQ(ids[1], 1);  // lowest index among the tied -9s of group 0
  check(logits, 1, p);
}

TEST(MoeRoute, TiesGoToTheLowerIndex) {
  MoeRouteParams p{.n_experts = 6, .top_k = 3};
  const std::vector<float> logits = {1, 2, 2, 0, 2, 1};
  std::vector<int32_t> ids(3);
  std::vector<float> w(3), scratch(7);
  moe_route(logits.data(), 1, p, ids.data(), w.data(), scratch.data());
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 2, 4}));
  EXPECT_EQ(w[0], w[1]);
}

}  // namespace
}  // namespace mlaserve::cpu
