#include "kernels/cpu/gemm_bf16_kn.h"

#include <cmath>

#include "kernels/cpu/simd.h"

namespace mlaserve::cpu {
namespace {

// MB inputs x R column vectors of 8: each step widens R weight vectors of row t once and
// broadcasts one input scalar per row block (4 x 3 = 12 accumulators + 3 weights + 1 input
// fill the 16 ymm registers).
template <int MB, int R>
inline void tile(const float* x, int64_t ldx, const uint16_t* w, int64_t ldw, int64_t k,
                 float* y, int64_t ldy) {
  __m256 acc[MB][R];
  for (int b = 0; b < MB; ++b)
    for (int r = 0; r < R; ++r) acc[b][r] = _mm256_setzero_ps();
  for (int64_t t = 0; t < k; ++t) {
    __m256 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = simd::load_bf16x8(w + t * ldw + 8 * r);
    for (int b = 0; b < MB; ++b) {
      const __m256 xv = _mm256_set1_ps(x[b * ldx + t]);
      for (int r = 0; r < R; ++r) acc[b][r] = _mm256_fmadd_ps(xv, wv[r], acc[b][r]);
    }
  }
  for (int b = 0; b < MB; ++b)
    for (int r = 0; r < R; ++r) _mm256_storeu_ps(y + b * ldy + 8 * r, acc[b][r]);
}

// One input: 8 independent accumulator chains hide the FMA latency. Several: 4 x 3.
template <int MB>
void columns(const float* x, int64_t ldx, const uint16_t* w, int64_t ldw, int64_t k, float* y,
             int64_t ldy, int64_t n) {
  constexpr int R = MB == 1 ? 8 : 3;
  int64_t j = 0;
  for (; j + 8 * R <= n; j += 8 * R) tile<MB, R>(x, ldx, w + j, ldw, k, y + j, ldy);
  for (; j + 8 <= n; j += 8) tile<MB, 1>(x, ldx, w + j, ldw, k, y + j, ldy);
  for (; j < n; ++j)
    for (int b = 0; b < MB; ++b) {
      float s = 0.0f;
      for (int64_t t = 0; t < k; ++t) s = std::fma(x[b * ldx + t], simd::bf16_scalar(w[t * ldw + j]), s);
      y[b * ldy + j] = s;
    }
}

}  // namespace

void gemm_bf16_kn(const float* x, int64_t ldx, int64_t m, const uint16_t* w, int64_t ldw,
                  int64_t k, float* y, int64_t ldy, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) columns<4>(x + i * ldx, ldx, w, ldw, k, y + i * ldy, ldy, n);
  for (; i < m; ++i) columns<1>(x + i * ldx, ldx, w, ldw, k, y + i * ldy, ldy, n);
}

}  // namespace mlaserve::cpu
