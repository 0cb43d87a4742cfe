// Sizing the latent cache: bytes per token against DeepSeek-V2's published dimensions, whole
// blocks for a budget, the fraction flag, byte-size parsing, and the /proc figures being readable.
#include "runtime/engine/cache_budget.h"

#include <string>

#include <gtest/gtest.h>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

template <typename Call>
void expect_invalid(Call&& call, const std::string& needle) {
  try {
    call();
    ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// DeepSeek-V2 (236B): kv_lora_rank 512, qk_rope_head_dim 64, 60 layers. The paper's figure for
// MLA is (d_c + d_h^R) = 576 elements per token and layer; in bf16 that is 69,120 bytes a token.
ModelConfig deepseek_v2() {
  ModelConfig c;
  c.kv_lora_rank = 512;
  c.qk_rope_head_dim = 64;
  c.num_hidden_layers = 60;
  return c;
}

TEST(CacheBudget, BytesPerTokenIsTheLatentPlusRopeKeyPerLayer) {
  EXPECT_EQ(kv_bytes_per_token(deepseek_v2(), DType::kBF16), 69120);
  EXPECT_EQ(kv_bytes_per_token(deepseek_v2(), DType::kF32), 138240);
}

TEST(CacheBudget, BudgetHoldsWholeBlocksOnly) {
  const int64_t block = 69120 * 64;  // one 64-token block in bf16
  EXPECT_EQ(blocks_for_budget(deepseek_v2(), DType::kBF16, 64, 10 * block), 10);
  EXPECT_EQ(blocks_for_budget(deepseek_v2(), DType::kBF16, 64, 11 * block - 1), 10);
  expect_invalid([&] { blocks_for_budget(deepseek_v2(), DType::kBF16, 64, block - 1); },
                 "--kv-cache-memory");
}

TEST(CacheBudget, FractionOfAvailableMemory) {
  EXPECT_EQ(kv_budget_from_fraction(0.5, 1000), 500);
  EXPECT_EQ(kv_budget_from_fraction(1.0, 1000), 1000);
  expect_invalid([] { kv_budget_from_fraction(0.0, 1000); }, "--kv-cache-fraction");
  expect_invalid([] { kv_budget_from_fraction(1.5, 1000); }, "--kv-cache-fraction");
}

TEST(CacheBudget, ParsesDecimalAndBinaryUnits) {
  EXPECT_EQ(parse_byte_size("--kv-cache-memory", "1073741824"), 1073741824);
  EXPECT_EQ(parse_byte_size("--kv-cache-memory", "512MiB"), 512LL << 20);
  EXPECT_EQ(parse_byte_size("--kv-cache-memory", "2GB"), 2000000000);
  EXPECT_EQ(parse_byte_size("--kv-cache-memory", "1.5GiB"), 3LL << 29);
  EXPECT_EQ(parse_byte_size("--kv-cache-memory", "64k"), 64000);
  EXPECT_EQ(parse_byte_size("--kv-cache-memory", "8 kib"), 8192);
  for (const char* bad : {"", "MiB", "12X", "-5", "1.2.3G", "99999999999TiB"})
    expect_invalid([&] { parse_byte_size("--kv-cache-memory", bad); }, "--kv-cache-memory");
}

TEST(CacheBudget, ProcFiguresAreReadable) {
  EXPECT_GT(available_memory_bytes(), 0);
  EXPECT_GT(peak_rss_bytes(), 0);
}

}  // namespace
}  // namespace mlaserve
