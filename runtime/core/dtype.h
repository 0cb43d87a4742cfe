#pragma once
// Element types and exact conversions between them. bf16 and f16 are stored as raw uint16_t bits;
// float -> half conversions round to nearest even and keep NaN/Inf, so a round trip of a value
// representable in the narrow type is exact.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace mlaserve {

enum class DType { kF32, kBF16, kF16, kI32, kI64 };

size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);  // "f32", "bf16", ...
// Parses our names ("f32", "float32", "bfloat16", ...); throws kInvalidArgument naming the text.
DType parse_dtype(std::string_view name);

struct bf16 { uint16_t bits; };
struct f16 { uint16_t bits; };

inline float bf16_to_float(uint16_t bits) {
  uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return static_cast<uint16_t>(u >> 16);
}

float f16_to_float(uint16_t bits);
uint16_t float_to_f16(float f);

// Bulk conversions used by loaders and ops (kernels/cpu has the vectorised versions).
void convert_to_float(DType src_dtype, const void* src, float* dst, size_t n);
void convert_from_float(const float* src, DType dst_dtype, void* dst, size_t n);

}  // namespace mlaserve
