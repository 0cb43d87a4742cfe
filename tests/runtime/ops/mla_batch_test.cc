// The host side of MLA's device batch (packing, the checks, the CPU no-op) and the CUDA launch
// plan's policy: both are plain host code, checked here without a GPU.
#include "runtime/ops/mla_batch.h"

#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "kernels/cuda/mla_plan.h"
#include "runtime/core/error.h"

namespace mlaserve {
namespace {

using ops::MlaBatch;

struct ThreeSequences {
  std::vector<std::vector<int32_t>> tables{{4, 1}, {}, {0, 2, 5}};
  MlaBatch batch;
  ThreeSequences() {
    // 2 new tokens after 3 cached; an empty sequence; 3 new tokens after 7 cached.
    batch.token_start = {0, 2, 2, 5};
    batch.pos_start = {3, 0, 7};
    batch.block_tables = {&tables[0], &tables[1], &tables[2]};
  }
};

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected an error";
  return "";
}

TEST(MlaBatch, PacksTheFourArraysIntoOneInt32Buffer) {
  ThreeSequences t;
  const ops::MlaPackedBatch p = ops::pack_batch(t.batch);
  EXPECT_EQ(p.num_sequences, 3);
  EXPECT_EQ(p.num_tokens, 5);
  EXPECT_EQ(p.max_blocks, 3);
  EXPECT_EQ(p.max_context, 10);
  EXPECT_EQ(p.pos_start_offset(), 4);
  EXPECT_EQ(p.token_seq_offset(), 7);
  EXPECT_EQ(p.block_tables_offset(), 12);
  const std::vector<int32_t> want = {
      0, 2, 2, 5,          // token_start
      3, 0, 7,             // pos_start
      0, 0, 2, 2, 2,       // token_seq
      4, 1, -1,            // block tables, padded with -1 to max_blocks
      -1, -1, -1,
      0, 2, 5};
  EXPECT_EQ(p.data, want);
}

TEST(MlaBatch, PackRefusesMalformedBatches) {
  {
    ThreeSequences t;
    t.batch.token_start = {0, 2, 1, 5};
    EXPECT_NE(error_of([&] { ops::pack_batch(t.batch); }).find("sequence 1"), std::string::npos);
  }
  {
    ThreeSequences t;
    t.batch.block_tables[2] = nullptr;
    EXPECT_NE(error_of([&] { ops::pack_batch(t.batch); }).find("no block table"),
              std::string::npos);
  }
  {
    ThreeSequences t;
    t.batch.pos_start[0] = std::numeric_limits<int32_t>::max() - 1;  // + 2 tokens: past 2^31 - 1
    EXPECT_NE(error_of([&] { ops::pack_batch(t.batch); }).find("2^31"), std::string::npos);
  }
  {
    ThreeSequences t;
    t.batch.token_start = {1, 2, 2, 5};
    EXPECT_NE(error_of([&] { ops::pack_batch(t.batch); }).find("token_start[0]"),
              std::string::npos);
  }
  {
    ThreeSequences t;
    t.batch.block_tables.pop_back();
    EXPECT_NE(error_of([&] { ops::pack_batch(t.batch); }).find("block_tables"), std::string::npos);
  }
}

TEST(MlaBatch, UploadToTheCpuLeavesNoDeviceCopy) {
  ThreeSequences t;
  t.batch.on_device.device = Device::cuda(0);  // as if uploaded before
  ops::upload_batch(t.batch, Device::cpu());
  EXPECT_TRUE(t.batch.on_device.device.is_cpu());
  EXPECT_FALSE(t.batch.on_device.on(Device::cuda(0)));
  EXPECT_FALSE(t.batch.on_device.token_start.defined());
}

TEST(MlaBatch, GpuOpsRequireAnUpToDateUpload) {
  ThreeSequences t;
  const std::string never =
      error_of([&] { ops::device_batch(t.batch, Device::cuda(0), "mla_attention"); });
  EXPECT_NE(never.find("mla_attention"), std::string::npos) << never;
  EXPECT_NE(never.find("upload_batch"), std::string::npos) << never;

  // Pretend an upload of this batch to cuda:0 (no device here), then change the host fields.
  const ops::MlaPackedBatch p = ops::pack_batch(t.batch);
  t.batch.on_device.device = Device::cuda(0);
  t.batch.on_device.num_sequences = p.num_sequences;
  t.batch.on_device.num_tokens = p.num_tokens;
  t.batch.on_device.max_context = p.max_context;
  EXPECT_NO_THROW(ops::device_batch(t.batch, Device::cuda(0), "mla_attention"));
  const std::string elsewhere =
      error_of([&] { ops::device_batch(t.batch, Device::cuda(1), "mla_cache_write"); });
  EXPECT_NE(elsewhere.find("cuda:0"), std::string::npos) << elsewhere;
  t.batch.pos_start[2] += 1;  // a decode step later, without a new upload
  const std::string stale =
      error_of([&] { ops::device_batch(t.batch, Device::cuda(0), "mla_attention"); });
  EXPECT_NE(stale.find("stale"), std::string::npos) << stale;
}

// The CUDA attention's CTA layout and split-K policy (kernels/cuda/mla_plan.h), on an H100.
TEST(MlaLaunchPlan, DecodeAtBatchOneSplitsTheContextToFillTheGpu) {
  const auto p = cuda::plan_mla_launch(/*tokens=*/1, /*heads=*/16, /*max_context=*/4096, 132);
  EXPECT_EQ(p.head_groups, 1);
  EXPECT_EQ(p.row_blocks, 1);
  EXPECT_EQ(p.num_splits, 64);
  EXPECT_EQ(p.split_len, 64);
  const auto long_ctx = cuda::plan_mla_launch(1, 16, 32768, 132);
  EXPECT_EQ(long_ctx.num_splits, cuda::kMlaMaxSplits);
  EXPECT_EQ(long_ctx.split_len, 256);
}

TEST(MlaLaunchPlan, PrefillHasCtasEnoughWithoutSplits) {
  const auto p = cuda::plan_mla_launch(4096, 16, 4096, 132);
  EXPECT_EQ(p.row_blocks, 4096);
  EXPECT_EQ(p.num_splits, 1);
  EXPECT_GE(p.split_len, 4096);
}

TEST(MlaLaunchPlan, HeadGroupsAndTokensPerCta) {
  const auto tiny = cuda::plan_mla_launch(5, 8, 100, 132);  // tiny-v2: two tokens per CTA
  EXPECT_EQ(tiny.head_groups, 1);
  EXPECT_EQ(tiny.tokens_per_cta, 2);
  EXPECT_EQ(tiny.row_blocks, 3);
  const auto twenty = cuda::plan_mla_launch(3, 20, 100, 132);  // two balanced groups of 10
  EXPECT_EQ(twenty.head_groups, 2);
  EXPECT_EQ(twenty.heads_per_group, 10);
  EXPECT_EQ(twenty.tokens_per_cta, 1);
  EXPECT_EQ(twenty.row_blocks, 6);
  const auto full = cuda::plan_mla_launch(2, 128, 100, 132);  // 236B at TP 1
  EXPECT_EQ(full.head_groups, 8);
  EXPECT_EQ(full.heads_per_group, 16);
}

TEST(MlaLaunchPlan, InvariantsOverASweep) {
  for (int64_t tokens : {1, 2, 7, 64, 300, 5000})
    for (int64_t heads : {1, 7, 8, 16, 20, 128})
      for (int64_t context : {1, 31, 32, 33, 1000, 2048, 70000})
        for (int64_t sms : {1, 108, 132}) {
          const auto p = cuda::plan_mla_launch(tokens, heads, context, sms);
          SCOPED_TRACE(str_cat("T ", tokens, " H ", heads, " ctx ", context, " SMs ", sms));
          EXPECT_LE(p.heads_per_group * p.tokens_per_cta, cuda::kMlaRowsPerCta);
          EXPECT_GE(p.heads_per_group * p.head_groups, heads);
          EXPECT_EQ(p.split_len % cuda::kMlaTileRows, 0);
          EXPECT_GE(p.num_splits, 1);
          EXPECT_LE(p.num_splits, cuda::kMlaMaxSplits);
          EXPECT_LT((p.num_splits - 1) * p.split_len, context);  // no empty split
          EXPECT_GE(p.num_splits * p.split_len, context);        // all positions covered
          // The partials stay small: splits only while CTAs are few.
          if (p.num_splits > 1) {
            EXPECT_LT(p.num_splits * p.row_blocks, 2 * cuda::kMlaCtasPerSm * sms);
          }
        }
}

}  // namespace
}  // namespace mlaserve
