#include "kernels/cpu/elementwise.h"

#include <cmath>

#include "kernels/cpu/simd.h"

namespace mlaserve::cpu {

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  auto step = [&](__m256 g, __m256 u) {
    const __m256 e = simd::exp_ps(_mm256_xor_ps(g, sign));  // exp(-g)
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), u);
  };
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, step(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i < n)
    simd::store_partial(out + i,
                        step(simd::load_partial(gate + i, n - i), simd::load_partial(up + i, n - i)),
                        n - i);
}

void add_inplace(float* y, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] += x[i];
}

void axpy(float* y, const float* x, float alpha, int64_t n) {
  const __m256 a = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] = std::fma(alpha, x[i], y[i]);
}

void scale_inplace(float* y, float s, int64_t n) {
  const __m256 a = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), a));
  for (; i < n; ++i) y[i] *= s;
}

}  // namespace mlaserve::cpu
