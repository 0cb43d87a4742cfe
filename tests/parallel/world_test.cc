#include "parallel/world.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/core/error.h"

namespace mlaserve::parallel {
namespace {

using ::testing::HasSubstr;

std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(WorldConfig, DerivesRanksForTwoReplicasOfFour) {
  const auto w = WorldConfig::create(8, 6, 4, 4);
  EXPECT_EQ(w.replicas(), 2);
  EXPECT_EQ(w.replica(), 1);
  EXPECT_EQ(w.tp_rank(), 2);
  EXPECT_EQ(w.ep_rank(), 2);
  EXPECT_EQ(w.leader_rank(), 4);
  EXPECT_FALSE(w.is_leader());
  EXPECT_EQ(w.local_rank(), 2);
  EXPECT_TRUE(WorldConfig::create(8, 4, 4, 4).is_leader());
  EXPECT_EQ(w.describe(), "rank 6/8 (replica 1, tp 2/4, ep 2/4)");
  EXPECT_EQ(w.tp_group(), (IndexRange{4, 8}));
}

TEST(WorldConfig, HeadsAndExpertsAreContiguousBlocks) {
  const auto w = WorldConfig::create(4, 3, 4, 4);
  EXPECT_EQ(w.heads(16), (IndexRange{12, 16}));
  EXPECT_EQ(w.experts(64), (IndexRange{48, 64}));
  // Every head and expert is owned by exactly one rank.
  std::vector<int> heads(16), experts(64);
  for (int r = 0; r < 4; ++r) {
    const auto wr = WorldConfig::create(4, r, 4, 4);
    for (int64_t h = wr.heads(16).begin; h < wr.heads(16).end; ++h) ++heads[h];
    for (int64_t e = wr.experts(64).begin; e < wr.experts(64).end; ++e) ++experts[e];
  }
  EXPECT_THAT(heads, ::testing::Each(1));
  EXPECT_THAT(experts, ::testing::Each(1));
}

TEST(WorldConfig, WithoutExpertParallelismEveryRankSeesAllExperts) {
  const auto w = WorldConfig::create(2, 1, 2, 1);
  EXPECT_FALSE(w.expert_parallel());
  EXPECT_EQ(w.ep_rank(), 0);
  EXPECT_EQ(w.experts(64), (IndexRange{0, 64}));
  EXPECT_EQ(w.heads(16), (IndexRange{8, 16}));
}

TEST(WorldConfig, SingleIsTheTrivialWorld) {
  const auto w = WorldConfig::single();
  EXPECT_EQ(w.world_size(), 1);
  EXPECT_TRUE(w.is_leader());
  EXPECT_EQ(w.heads(16), (IndexRange{0, 16}));
}

TEST(WorldConfig, ErrorsNameTheFlagAndTheNumbers) {
  EXPECT_THAT(error_of([] { WorldConfig::create(4, 0, 3, 1); }),
              HasSubstr("--tp 3 does not divide the world size 4"));
  EXPECT_THAT(error_of([] { WorldConfig::create(4, 0, 4, 2); }),
              HasSubstr("--ep 2 must be 1 or equal to --tp 4"));
  EXPECT_THAT(error_of([] { WorldConfig::create(4, 4, 4, 4); }),
              HasSubstr("rank 4 is outside the world of size 4"));
  EXPECT_THAT(error_of([] { WorldConfig::create(4, 0, 0, 1); }), HasSubstr("--tp must be"));
  const auto w = WorldConfig::create(4, 0, 4, 4);
  EXPECT_THAT(error_of([&] { w.heads(10); }),
              HasSubstr("--tp 4 does not divide num_attention_heads 10"));
  EXPECT_THAT(error_of([&] { w.validate_model(16, 6); }),
              HasSubstr("--ep 4 does not divide n_routed_experts 6"));
}

}  // namespace
}  // namespace mlaserve::parallel
