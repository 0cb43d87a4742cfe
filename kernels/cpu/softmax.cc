#include "kernels/cpu/softmax.h"

#include <cmath>
#include <limits>

#include "kernels/cpu/simd.h"

namespace mlaserve::cpu {

void softmax_row(const float* x, float* out, int64_t n) {
  if (n <= 0) return;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  __m256 mv = _mm256_set1_ps(neg_inf);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
  float mx = simd::hmax(mv);
  for (; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  if (mx == neg_inf) {  // fully masked row
    for (int64_t j = 0; j < n; ++j) out[j] = 0.0f;
    return;
  }
  const __m256 mb = _mm256_set1_ps(mx);
  __m256 acc = _mm256_setzero_ps();
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = simd::exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
    _mm256_storeu_ps(out + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = simd::hsum(acc);
  if (i < n) {
    const __m256 e = simd::exp_ps(_mm256_sub_ps(simd::load_partial(x + i, n - i), mb));
    alignas(32) float buf[8];
    _mm256_store_ps(buf, e);
    for (int64_t j = 0; i + j < n; ++j) {
      out[i + j] = buf[j];
      sum += buf[j];
    }
  }
  const float inv = 1.0f / sum;
  const __m256 iv = _mm256_set1_ps(inv);
  i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(out + i), iv));
  for (; i < n; ++i) out[i] *= inv;
}

}  // namespace mlaserve::cpu
