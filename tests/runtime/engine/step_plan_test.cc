// The step plan's wire format: plans survive encode -> decode unchanged, and malformed words
// (truncated, corrupted, oversized counts) are rejected with a message naming the field, never
// read out of bounds (a seeded mutation sweep stands in for a fuzzer under CTest).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "runtime/core/error.h"
#include "runtime/engine/step_plan.h"

namespace mlaserve {
namespace {

using ::testing::HasSubstr;

StepPlan sample_forward() {
  std::vector<int32_t> t0 = {3, 1}, t1 = {0};
  ForwardBatch batch;
  batch.all_logits = true;
  batch.sequences.push_back({{5, 6, 7}, 0, &t0});
  batch.sequences.push_back({{9}, 63, &t1});
  return StepPlan::forward(batch);
}

std::string decode_error(const std::vector<int64_t>& words) {
  try {
    decode_step_plan(words);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataLoss) << e.what();
    return e.what();
  }
  return "";
}

TEST(StepPlan, RoundTripsEveryKind) {
  for (const StepPlan& plan :
       {StepPlan::setup_cache({12, 64, DType::kBF16}), sample_forward(), StepPlan::stop(),
        StepPlan::keep_alive()}) {
    EXPECT_EQ(decode_step_plan(encode_step_plan(plan)), plan) << step_kind_name(plan.kind);
  }
}

TEST(StepPlan, ForwardBatchViewPointsIntoThePlan) {
  const StepPlan plan = sample_forward();
  const ForwardBatch batch = plan.as_batch();
  ASSERT_EQ(batch.sequences.size(), 2u);
  EXPECT_TRUE(batch.all_logits);
  EXPECT_EQ(batch.sequences[1].start_pos, 63);
  EXPECT_EQ(batch.sequences[0].block_table, &plan.sequences[0].block_table);
  EXPECT_EQ(*batch.sequences[0].block_table, (std::vector<int32_t>{3, 1}));
}

TEST(StepPlan, MalformedInputNamesTheField) {
  const std::vector<int64_t> good = encode_step_plan(sample_forward());
  // [magic, kind, all_logits, n, start0, ntok0, nblk0, 5, 6, 7, 3, 1, start1, ntok1, nblk1, 9, 0]
  ASSERT_EQ(good.size(), 17u);
  auto with = [&](size_t i, int64_t v) {
    auto w = good;
    w[i] = v;
    return w;
  };
  EXPECT_THAT(decode_error({}), HasSubstr("expected magic"));
  EXPECT_THAT(decode_error(with(0, 42)), HasSubstr("bad magic"));
  EXPECT_THAT(decode_error(with(1, 9)), HasSubstr("unknown kind 9"));
  EXPECT_THAT(decode_error(with(2, 2)), HasSubstr("all_logits = 2"));
  EXPECT_THAT(decode_error(with(3, 1000)), HasSubstr("num_sequences = 1000"));
  EXPECT_THAT(decode_error(with(3, -1)), HasSubstr("num_sequences = -1"));
  EXPECT_THAT(decode_error(with(4, -5)), HasSubstr("sequence 0 start_pos = -5"));
  EXPECT_THAT(decode_error(with(5, 0)), HasSubstr("sequence 0 num_tokens = 0"));
  EXPECT_THAT(decode_error(with(14, 99)), HasSubstr("sequence 1 claims 1 tokens and 99 blocks"));
  EXPECT_THAT(decode_error(with(16, int64_t{1} << 40)), HasSubstr("sequence 1 block 0"));
  auto truncated = good;
  truncated.pop_back();
  EXPECT_THAT(decode_error(truncated), HasSubstr("sequence 1 claims"));
  auto trailing = good;
  trailing.push_back(0);
  EXPECT_THAT(decode_error(trailing), HasSubstr("1 trailing words"));
  EXPECT_THAT(decode_error({kStepPlanMagic, 1, 4, 64, 77}), HasSubstr("cache dtype code 77"));
  EXPECT_THAT(decode_error({kStepPlanMagic, 1, 0, 64, 0}), HasSubstr("num_blocks = 0"));
  EXPECT_THAT(decode_error({kStepPlanMagic, 1, 4}), HasSubstr("expected block_size"));
}

TEST(StepPlan, RandomCorruptionIsRejectedOrDecodesCleanly) {
  const std::vector<int64_t> good = encode_step_plan(sample_forward());
  std::mt19937_64 rng(7);
  const int64_t specials[] = {-1, 0, 1, 2, 1 << 20, INT64_MAX, INT64_MIN};
  for (int iter = 0; iter < 20000; ++iter) {
    auto w = good;
    w.resize(rng() % (good.size() + 3));
    for (int k = 0, edits = 1 + rng() % 3; k < edits && !w.empty(); ++k)
      w[rng() % w.size()] = rng() % 2 ? specials[rng() % 7] : static_cast<int64_t>(rng() % 40);
    try {
      const StepPlan plan = decode_step_plan(w);
      EXPECT_EQ(encode_step_plan(plan), w);  // whatever decodes re-encodes to the same words
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::kDataLoss) << e.what();
    }
  }
}

}  // namespace
}  // namespace mlaserve
