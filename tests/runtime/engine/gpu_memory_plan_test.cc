// --gpu-memory-utilization arithmetic (runtime/engine/gpu_memory_plan): pure functions of the
// figures a GPU reports, so they are checked here without one.
#include "runtime/engine/gpu_memory_plan.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "runtime/core/error.h"
#include "runtime/model/config.h"

namespace mlaserve {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

ErrorCode code_of(const std::function<void()>& call, std::string* message) {
  try {
    call();
  } catch (const Error& e) {
    *message = e.what();
    return e.code();
  }
  ADD_FAILURE() << "no error";
  return ErrorCode::kInternal;
}

TEST(GpuMemoryPlan, CacheTakesWhatIsLeftUnderTheUtilization) {
  // 80 GiB GPU, 20 GiB in use after the weights, 2 GiB workspace, U = 0.9: 72 − 20 − 2 = 50.
  const GpuMemoryPlan p = plan_gpu_memory(0.9, 60 * kGiB, 80 * kGiB, 2 * kGiB, 0);
  EXPECT_EQ(p.in_use_bytes, 20 * kGiB);
  EXPECT_EQ(p.cache_bytes, static_cast<int64_t>(0.9 * 80 * kGiB) - 22 * kGiB);
  EXPECT_NE(p.describe().find("--gpu-memory-utilization 0.90 of 80.0 GiB"), std::string::npos)
      << p.describe();
}

TEST(GpuMemoryPlan, NeverPlansPastWhatIsFree) {
  // U = 1 on a GPU where another process holds memory: free, not U · total, is the limit.
  const GpuMemoryPlan p = plan_gpu_memory(1.0, 10 * kGiB, 80 * kGiB, kGiB, 0);
  EXPECT_EQ(p.cache_bytes, 9 * kGiB);
}

TEST(GpuMemoryPlan, ARequestedCacheMustFit) {
  EXPECT_EQ(plan_gpu_memory(0.9, 60 * kGiB, 80 * kGiB, 2 * kGiB, 8 * kGiB).cache_bytes, 8 * kGiB);
  std::string message;
  EXPECT_EQ(code_of([] { plan_gpu_memory(0.9, 60 * kGiB, 80 * kGiB, 2 * kGiB, 60 * kGiB); },
                    &message),
            ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("--kv-cache-memory"), std::string::npos) << message;
}

TEST(GpuMemoryPlan, NoRoomIsResourceExhaustedNamingTheFigures) {
  std::string message;
  EXPECT_EQ(code_of([] { plan_gpu_memory(0.5, 30 * kGiB, 80 * kGiB, kGiB, 0); }, &message),
            ErrorCode::kResourceExhausted);
  EXPECT_NE(message.find("50.0 GiB in use"), std::string::npos) << message;
  EXPECT_EQ(code_of([] { plan_gpu_memory(1.5, 30 * kGiB, 80 * kGiB, kGiB, 0); }, &message),
            ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("--gpu-memory-utilization"), std::string::npos) << message;
}

TEST(GpuMemoryPlan, WorkspaceGrowsWithTokensAndShrinksWithTp) {
  ModelConfig c;  // DeepSeek-V2 236B's dims
  c.hidden_size = 5120;
  c.num_attention_heads = 128;
  c.qk_nope_head_dim = 128;
  c.qk_rope_head_dim = 64;
  c.v_head_dim = 128;
  c.kv_lora_rank = 512;
  c.q_lora_rank = 1536;
  c.n_routed_experts = 160;
  c.num_experts_per_tok = 6;
  c.moe_intermediate_size = 1536;
  c.n_shared_experts = 2;
  c.intermediate_size = 12288;
  c.vocab_size = 102400;
  const int64_t one = gpu_workspace_bytes(c, 1, 1), many = gpu_workspace_bytes(c, 1, 2048);
  EXPECT_GT(many, one);
  EXPECT_LT(gpu_workspace_bytes(c, 8, 2048), many);
  // 2048 tokens at TP 1: 291,904 f32 values a token (attention's 2·128·512 latent rows and the
  // 102,400 logits dominate), doubled, plus 512 MiB: 4.95 GiB.
  EXPECT_EQ(many, (int64_t{512} << 20) + 2 * 4 * 291904 * int64_t{2048});
}

}  // namespace
}  // namespace mlaserve
