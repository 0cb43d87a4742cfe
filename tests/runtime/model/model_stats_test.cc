#include "runtime/model/model_stats.h"

#include <filesystem>

#include <gtest/gtest.h>

namespace mlaserve {
namespace {

namespace fs = std::filesystem;

ModelConfig shipped(const char* name) {
  return load_model_config(fs::path(MLASERVE_SOURCE_DIR) / "configs/models" / name);
}

// Published figures: DeepSeek-V2 has 236B total parameters, 21B activated per token; V2-Lite
// 15.7B total, 2.4B activated (both from the DeepSeek-V2 paper / model cards).
TEST(ModelStats, DeepSeekV2MatchesPublishedSizes) {
  const ModelStats s = compute_model_stats(shipped("deepseek-v2-236b.json"));
  EXPECT_NEAR(s.total_params / 1e9, 236.0, 236.0 * 0.005);
  EXPECT_NEAR(s.activated_params / 1e9, 21.0, 21.0 * 0.03);
  // 576 latent values · 60 layers · 2 bytes.
  EXPECT_EQ(s.latent_kv_bytes_per_token(DType::kBF16), 69120);
  EXPECT_EQ(s.latent_kv_bytes_per_token(DType::kF32), 138240);
  // 128 heads · (192 + 128) · 60 layers · 2 bytes.
  EXPECT_EQ(s.mha_kv_bytes_per_token(DType::kBF16), 4915200);
}

TEST(ModelStats, DeepSeekV2LiteMatchesPublishedSizes) {
  const ModelStats s = compute_model_stats(shipped("deepseek-v2-lite.json"));
  EXPECT_NEAR(s.total_params / 1e9, 15.7, 15.7 * 0.005);
  EXPECT_NEAR(s.activated_params / 1e9, 2.4, 2.4 * 0.03);
  EXPECT_EQ(s.latent_kv_bytes_per_token(DType::kBF16), 576 * 27 * 2);
}

TEST(ModelStats, GroupsAddUpAndActivationCountsChosenExperts) {
  const ModelConfig c = load_model_config(fs::path(MLASERVE_TEST_DATA_DIR) / "tiny-v2");
  const ModelStats s = compute_model_stats(c);
  int64_t sum = 0;
  for (int64_t n : s.params_by_group) sum += n;
  EXPECT_EQ(sum, s.total_params);
  // tiny-v2: 2 MoE layers of 16 experts of 3·128·40 weights; a token uses 4 of them.
  EXPECT_EQ(s.group_params(TensorGroup::kRoutedExperts), 2 * 16 * 3 * 128 * 40);
  EXPECT_EQ(s.activated_by_group[static_cast<int>(TensorGroup::kRoutedExperts)], 2 * 4 * 3 * 128 * 40);
  EXPECT_EQ(s.group_params(TensorGroup::kSharedExperts), 2 * 3 * 128 * 80);
  EXPECT_EQ(s.group_params(TensorGroup::kDenseMlp), 3 * 128 * 352);
  EXPECT_EQ(s.group_params(TensorGroup::kGate), 2 * 16 * 128);
  EXPECT_EQ(s.group_params(TensorGroup::kEmbedding), 384 * 128);
  EXPECT_EQ(s.group_params(TensorGroup::kLmHead), 384 * 128);
  // Activated = total minus the 12 unused experts per layer and the embedding table.
  EXPECT_EQ(s.activated_params, s.total_params - 2 * 12 * 3 * 128 * 40 - 384 * 128);
}

}  // namespace
}  // namespace mlaserve
