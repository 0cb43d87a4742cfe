#include "kernels/cpu/rms_norm.h"

#include <cmath>

#include "kernels/cpu/simd.h"

namespace mlaserve::cpu {
namespace {

inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) { return simd::load_bf16x8(p); }
inline float load1(const float* p) { return *p; }
inline float load1(const uint16_t* p) { return simd::bf16_scalar(*p); }

template <typename W>
void rms_norm_impl(const float* x, const W* w, float* y, int64_t n, float eps) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    acc = _mm256_fmadd_ps(v, v, acc);
  }
  float ss = simd::hsum(acc);
  for (; i < n; ++i) ss += x[i] * x[i];
  // Same order as the reference: normalise in f32, then scale by the weight.
  const float r = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  const __m256 rv = _mm256_set1_ps(r);
  i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), rv), load8(w + i)));
  for (; i < n; ++i) y[i] = (x[i] * r) * load1(w + i);
}

}  // namespace

void rms_norm_f32w(const float* x, const float* w, float* y, int64_t n, float eps) {
  rms_norm_impl(x, w, y, n, eps);
}
void rms_norm_bf16w(const float* x, const uint16_t* w, float* y, int64_t n, float eps) {
  rms_norm_impl(x, w, y, n, eps);
}

}  // namespace mlaserve::cpu
