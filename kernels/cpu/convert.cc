#include "kernels/cpu/convert.h"

#include "kernels/cpu/simd.h"

namespace mlaserve::cpu {

void bf16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, simd::load_bf16x8(src + i));
  for (; i < n; ++i) dst[i] = simd::bf16_scalar(src[i]);
}

void f32_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     simd::f32x8_to_bf16(_mm256_loadu_ps(src + i)));
  if (i < n) {
    alignas(16) uint16_t buf[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(buf),
                    simd::f32x8_to_bf16(simd::load_partial(src + i, n - i)));
    for (int64_t j = 0; i + j < n; ++j) dst[i + j] = buf[j];
  }
}

}  // namespace mlaserve::cpu
