#include "runtime/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

const std::vector<float> kLogits = {0.5f, 2.0f, -1.0f, 1.5f, 1.9f};

int64_t draw(const SamplingParams& p, int64_t position,
             const std::vector<float>& logits = kLogits) {
  return sample_token(p, logits.data(), static_cast<int64_t>(logits.size()), position);
}

TEST(Sampler, TemperatureZeroIsArgmaxWithTiesToTheLowerId) {
  EXPECT_EQ(draw({0.0, 0, 1.0, 1}, 0), 1);
  const std::vector<float> tied = {0.1f, 3.0f, -2.0f, 3.0f, 3.0f};
  for (int64_t position : {0, 1, 99}) EXPECT_EQ(draw({0.0, 0, 1.0, 1}, position, tied), 1);
}

TEST(Sampler, TopKOneAndTinyTopPAreGreedy) {
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(draw({1.0, 1, 1.0, 3}, i), 1);
    EXPECT_EQ(draw({1.0, 0, 1e-6, 3}, i), 1);
  }
}

TEST(Sampler, FrequenciesFollowSoftmaxAndRespectTopK) {
  std::vector<int> counts(5, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[draw({1.0, 3, 1.0, 42}, i)];  // top-3: ids 1, 4, 3
  EXPECT_EQ(counts[0] + counts[2], 0);
  const double z = std::exp(2.0) + std::exp(1.9) + std::exp(1.5);
  EXPECT_NEAR(counts[1] / double(n), std::exp(2.0) / z, 0.02);
  EXPECT_NEAR(counts[3] / double(n), std::exp(1.5) / z, 0.02);
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingIt) {
  // Shares at T = 1: id 1 0.335, id 4 0.303, id 3 0.203, id 0 0.122, id 2 0.037.
  // top_p 0.6 keeps ids 1 and 4 (0.335 < 0.6 <= 0.638), renormalised.
  std::vector<int> counts(5, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[draw({1.0, 0, 0.6, 8}, i)];
  EXPECT_EQ(counts[0] + counts[2] + counts[3], 0);
  EXPECT_NEAR(counts[1] / double(n), std::exp(2.0) / (std::exp(2.0) + std::exp(1.9)), 0.02);
}

TEST(Sampler, ATokenIsAPureFunctionOfSeedAndPosition) {
  const SamplingParams a{1.0, 0, 1.0, 9}, c{1.0, 0, 1.0, 10};
  std::vector<int64_t> forward, backward, other_seed;
  for (int i = 0; i < 64; ++i) {
    forward.push_back(draw(a, i));
    other_seed.push_back(draw(c, i));
  }
  // Drawn in another order (as after a resume at any position): the same tokens.
  for (int i = 63; i >= 0; --i) backward.insert(backward.begin(), draw(a, i));
  EXPECT_EQ(forward, backward);
  EXPECT_NE(forward, other_seed);
  // Positions are independent draws: not one token repeated.
  EXPECT_NE(std::count(forward.begin(), forward.end(), forward[0]), 64);
}

TEST(Sampler, RowCarriesTheParametersAndPosition) {
  const ops::SamplingRow row = sampling_row({0.7, 5, 0.9, 123}, 17);
  EXPECT_EQ(row.temperature, 0.7);
  EXPECT_EQ(row.top_k, 5);
  EXPECT_EQ(row.top_p, 0.9);
  EXPECT_EQ(row.seed, 123u);
  EXPECT_EQ(row.position, 17);
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
  EXPECT_EQ(top_logprobs(kLogits.data(), 5, 9).size(), 5u);  // k beyond the vocabulary
}

TEST(Sampler, RejectsBadParameters) {
  EXPECT_THROW((SamplingParams{-1.0, 0, 1.0, 0}.validate()), Error);
  EXPECT_THROW((SamplingParams{1.0, -2, 1.0, 0}.validate()), Error);
  EXPECT_THROW((SamplingParams{1.0, 0, 0.0, 0}.validate()), Error);
  EXPECT_THROW((SamplingParams{1.0, 0, 1.5, 0}.validate()), Error);
  EXPECT_THROW(draw({1.0, 0, 1.5, 0}, 0), Error);
}

}  // namespace
}  // namespace mlaserve
