#include "runtime/model/kv_cache.h"

#include <gtest/gtest.h>

#include "runtime/core/error.h"
#include "runtime/model/config.h"

namespace mlaserve {
namespace {

ModelConfig tiny_lite() {
  return load_model_config(std::string(MLASERVE_TEST_DATA_DIR) + "/tiny-lite");
}

TEST(KvCache, LayoutIsBlocksOfLatents) {
  const ModelConfig c = tiny_lite();
  KvCache f32(c, 5, 16, DType::kF32);
  ASSERT_EQ(f32.num_layers(), c.num_hidden_layers);
  EXPECT_EQ(f32.layer(0).shape(), (Shape{5, 16, c.kv_lora_rank + c.qk_rope_head_dim}));
  EXPECT_EQ(f32.layer(0).dtype(), DType::kF32);
  KvCache bf16(c, 5, 64, DType::kBF16);
  EXPECT_EQ(bf16.layer(1).dtype(), DType::kBF16);
  EXPECT_THROW(bf16.layer(c.num_hidden_layers), Error);
}

TEST(KvCache, ReserveGrowsTablesAndFailsCleanlyWhenFull) {
  KvCache cache(tiny_lite(), 4, 16);
  std::vector<int32_t> a, b;
  cache.reserve(a, 17);  // two blocks
  EXPECT_EQ(a, (std::vector<int32_t>{0, 1}));
  cache.reserve(a, 32);  // still two
  EXPECT_EQ(a.size(), 2u);
  cache.reserve(b, 1);
  EXPECT_EQ(b, (std::vector<int32_t>{2}));
  try {
    cache.reserve(b, 40);  // needs two more, one is free
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted);
  }
  EXPECT_EQ(b.size(), 1u);  // unchanged on failure
  cache.release(a);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(cache.free_blocks(), 3);
  cache.reserve(b, 40);
  EXPECT_EQ(b, (std::vector<int32_t>{2, 0, 1}));
}

TEST(KvCache, RejectsBadGeometry) {
  EXPECT_THROW(KvCache(tiny_lite(), 0, 16), Error);
  EXPECT_THROW(KvCache(tiny_lite(), 4, 0), Error);
  EXPECT_THROW(KvCache(tiny_lite(), 4, 16, DType::kI32), Error);
}

}  // namespace
}  // namespace mlaserve
