#include "runtime/engine/sampler.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

const std::vector<float> kLogits = {0.5f, 2.0f, -1.0f, 1.5f, 1.9f};

TEST(Sampler, TemperatureZeroIsArgmax) {
  Sampler s({0.0, 0, 1.0, 1});
  EXPECT_EQ(s.sample(kLogits.data(), 5), 1);
}

TEST(Sampler, TopKOneAndTinyTopPAreGreedy) {
  Sampler k1({1.0, 1, 1.0, 3}), p({1.0, 0, 1e-6, 3});
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(k1.sample(kLogits.data(), 5), 1);
    EXPECT_EQ(p.sample(kLogits.data(), 5), 1);
  }
}

TEST(Sampler, FrequenciesFollowSoftmaxAndRespectTopK) {
  Sampler s({1.0, 3, 1.0, 42});  // top-3: ids 1, 4, 3
  std::vector<int> counts(5, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[s.sample(kLogits.data(), 5)];
  EXPECT_EQ(counts[0] + counts[2], 0);
  const double z = std::exp(2.0) + std::exp(1.9) + std::exp(1.5);
  EXPECT_NEAR(counts[1] / double(n), std::exp(2.0) / z, 0.02);
  EXPECT_NEAR(counts[3] / double(n), std::exp(1.5) / z, 0.02);
}

TEST(Sampler, SameSeedRepeatsNeighbouringSeedDiffers) {
  Sampler a({1.0, 0, 1.0, 9}), b({1.0, 0, 1.0, 9}), c({1.0, 0, 1.0, 10});
  std::vector<int64_t> ta, tb, tc;
  for (int i = 0; i < 64; ++i) {
    ta.push_back(a.sample(kLogits.data(), 5));
    tb.push_back(b.sample(kLogits.data(), 5));
    tc.push_back(c.sample(kLogits.data(), 5));
  }
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
}

TEST(Sampler, TopLogprobsAreLogSoftmaxInOrder) {
  const auto top = top_logprobs(kLogits.data(), 5, 2);
  ASSERT_EQ(top.size(), 2u);
  double z = 0;
  for (float l : kLogits) z += std::exp(l);
  EXPECT_EQ(top[0].first, 1);
  EXPECT_EQ(top[1].first, 4);
  EXPECT_NEAR(top[0].second, 2.0 - std::log(z), 1e-5);
  EXPECT_NEAR(top[1].second, 1.9 - std::log(z), 1e-5);
}

TEST(Sampler, RejectsBadParameters) {
  EXPECT_THROW(Sampler({-1.0, 0, 1.0, 0}), Error);
  EXPECT_THROW(Sampler({1.0, -2, 1.0, 0}), Error);
  EXPECT_THROW(Sampler({1.0, 0, 0.0, 0}), Error);
  EXPECT_THROW(Sampler({1.0, 0, 1.5, 0}), Error);
}

}  // namespace
}  // namespace mlaserve
