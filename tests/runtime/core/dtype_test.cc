#include "runtime/core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::kF32), 4u);
  EXPECT_EQ(dtype_size(DType::kBF16), 2u);
  EXPECT_EQ(dtype_size(DType::kI64), 8u);
  EXPECT_EQ(parse_dtype("bfloat16"), DType::kBF16);
  EXPECT_EQ(parse_dtype("float32"), DType::kF32);
  EXPECT_THROW(parse_dtype("float8"), Error);
}

// Every one of the 65536 bf16 bit patterns survives bf16 -> f32 -> bf16 (NaNs stay NaN).
TEST(DType, Bf16RoundTripIsExactForAllPatterns) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const float f = bf16_to_float(static_cast<uint16_t>(b));
    const uint16_t back = float_to_bf16(f);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_float(back)));
    } else {
      ASSERT_EQ(back, b) << "pattern " << b;
    }
  }
}

TEST(DType, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 lies exactly between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // Just above the tie rounds up.
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81);
  // 1 + 3·2^-8 is a tie between 0x3f81 (odd) and 0x3f82 (even): goes to 0x3f82.
  EXPECT_EQ(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(float_to_bf16(-0.0f), 0x8000);
}

TEST(DType, F16RoundTripIsExactForAllPatterns) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const float f = f16_to_float(static_cast<uint16_t>(b));
    const uint16_t back = float_to_f16(f);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_float(back)));
    } else {
      ASSERT_EQ(back, b) << "pattern " << b;
    }
  }
}

TEST(DType, F16KnownValuesAndRounding) {
  EXPECT_EQ(f16_to_float(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_float(0xc000), -2.0f);
  EXPECT_EQ(f16_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_float(0x7bff), 65504.0f);                // largest finite
  EXPECT_EQ(float_to_f16(65520.0f), 0x7c00);                // rounds to Inf
  EXPECT_EQ(float_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -25)), 0x0000);   // tie to even (zero)
  EXPECT_EQ(float_to_f16(std::ldexp(3.0f, -25)), 0x0002);   // tie 1.5 -> 2
  EXPECT_EQ(float_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie to even
}

// Exhaustive property: float -> f16 picks the nearest f16 value (ties to even), checked against
// a brute-force search over neighbouring f16 values for a sweep of floats.
TEST(DType, F16ConversionIsNearest) {
  for (int i = 0; i < 200000; ++i) {
    // Magnitudes from 2^-26 to 2^17, both signs, with non-round mantissas.
    const float x = (i % 2 ? -1.0f : 1.0f) * std::ldexp(1.0f + (i % 9973) / 9973.0f, i % 44 - 26);
    const uint16_t h = float_to_f16(x);
    const float got = f16_to_float(h);
    if (std::isinf(got)) {
      EXPECT_GE(std::fabs(x), 65520.0f);
      continue;
    }
    for (int delta : {-1, 1}) {
      const uint16_t n = static_cast<uint16_t>(h + delta);
      const float other = f16_to_float(n);
      if (std::isnan(other) || std::isinf(other) || (std::signbit(other) != std::signbit(got) && other != 0)) continue;
      EXPECT_LE(std::fabs(got - x), std::fabs(other - x)) << "x=" << x;
    }
  }
}

}  // namespace
}  // namespace mlaserve
