#include "runtime/core/error.h"

#include <gtest/gtest.h>

namespace mlaserve {
namespace {

TEST(Error, EnsureThrowsWithCodeAndMessage) {
  try {
    const int heads = 6;
    MLA_ENSURE(heads % 4 == 0, kInvalidArgument, "num_attention_heads (", heads,
               ") is not divisible by --tp 4");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_STREQ(e.what(), "num_attention_heads (6) is not divisible by --tp 4");
  }
  EXPECT_EQ(error_code_name(ErrorCode::kDeadlineExceeded), "DEADLINE_EXCEEDED");
}

}  // namespace
}  // namespace mlaserve
