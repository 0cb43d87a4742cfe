#include "kernels/cpu/gemv_bf16.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/simd.h"

namespace mlaserve::cpu {
namespace {

inline __m256 load8(const uint16_t* p) { return simd::load_bf16x8(p); }
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline float load1(const uint16_t* p) { return simd::bf16_scalar(*p); }
inline float load1(const float* p) { return *p; }

// R weight rows x MB inputs. Every output element uses the same recipe — one 8-lane
// accumulator over k in steps of 8, a fixed-order horizontal sum, then the k % 8 tail in order
// — whatever R and MB are, so y does not depend on how rows or inputs were grouped: not on the
// thread split, and not on the batch size (decode of one sequence in a batch of 1 or of 8 gives
// the same bits).
//
// `pf`, when set, is a block of R * k weights (the next tile's rows) that is prefetched at the
// pace this tile consumes its own rows; it changes no arithmetic.
template <int R, int MB, typename W>
inline void tile(const W* w, int64_t ldw, const float* x, int64_t ldx, int64_t k, float* y,
                 int64_t ldy, const char* pf = nullptr) {
  __m256 acc[MB][R];
  for (int b = 0; b < MB; ++b)
    for (int r = 0; r < R; ++r) acc[b][r] = _mm256_setzero_ps();
  int64_t t = 0;
  for (; t + 8 <= k; t += 8) {
    if (pf != nullptr) {
      // This step consumes R * 8 weights; touch as many bytes of the next block.
      constexpr int kStepBytes = R * 8 * static_cast<int>(sizeof(W));
      const char* p = pf + t * R * static_cast<int64_t>(sizeof(W));
      for (int off = 0; off < kStepBytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
    }
    __m256 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load8(w + r * ldw + t);
    for (int b = 0; b < MB; ++b) {
      const __m256 xv = _mm256_loadu_ps(x + b * ldx + t);
      for (int r = 0; r < R; ++r) acc[b][r] = _mm256_fmadd_ps(wv[r], xv, acc[b][r]);
    }
  }
  for (int b = 0; b < MB; ++b) {
    for (int r = 0; r < R; ++r) {
      float s = simd::hsum(acc[b][r]);
      for (int64_t u = t; u < k; ++u) s = std::fma(load1(w + r * ldw + u), x[b * ldx + u], s);
      y[b * ldy + r] = s;
    }
  }
}

template <int R, typename W>
void rows_all_inputs(const W* w, int64_t ldw, const float* x, int64_t ldx, int64_t m, int64_t k,
                     float* y, int64_t ldy) {
  constexpr int kMB = 4;
  int64_t b = 0;
  for (; b + kMB <= m; b += kMB) tile<R, kMB>(w, ldw, x + b * ldx, ldx, k, y + b * ldy, ldy);
  switch (m - b) {
    case 3: tile<R, 3>(w, ldw, x + b * ldx, ldx, k, y + b * ldy, ldy); break;
    case 2: tile<R, 2>(w, ldw, x + b * ldx, ldx, k, y + b * ldy, ldy); break;
    case 1: tile<R, 1>(w, ldw, x + b * ldx, ldx, k, y + b * ldy, ldy); break;
    default: break;
  }
}

}  // namespace

// Eight rows in flight: single-threaded on 4096 x 4096 this streams ~18 GB/s against ~15 GB/s
// with four (more independent loads for the memory system to overlap).
constexpr int kGemvRows = 8;

void gemv_bf16(const uint16_t* w, int64_t ldw, int64_t k, const float* x, float* y,
               int64_t n_begin, int64_t n_end) {
  int64_t j = n_begin;
  for (; j + kGemvRows <= n_end; j += kGemvRows) {
    // With packed rows the next tile is the next R * k weights: prefetch it while this one
    // streams (rows of ~1 KiB are too short for the hardware prefetcher to ramp up on).
    const char* pf = (ldw == k && j + 2 * kGemvRows <= n_end)
                         ? reinterpret_cast<const char*>(w + (j + kGemvRows) * ldw)
                         : nullptr;
    tile<kGemvRows, 1>(w + j * ldw, ldw, x, 0, k, y + j, 1, pf);
  }
  for (; j < n_end; ++j) tile<1, 1>(w + j * ldw, ldw, x, 0, k, y + j, 1);
}

void gemm_bf16_small_m(const float* x, int64_t ldx, int64_t m, const uint16_t* w, int64_t ldw,
                       int64_t k, float* y, int64_t ldy, int64_t n_begin, int64_t n_end) {
  if (m <= 0 || n_end <= n_begin) return;
  if (m <= 4) {
    // One input block: widen weights in registers, each row is read once.
    int64_t j = n_begin;
    for (; j + 3 <= n_end; j += 3) rows_all_inputs<3>(w + j * ldw, ldw, x, ldx, m, k, y + j, ldy);
    for (; j < n_end; ++j) rows_all_inputs<1>(w + j * ldw, ldw, x, ldx, m, k, y + j, ldy);
    return;
  }
  // Several input blocks reuse the same rows: widen 3 rows once into an L1/L2-resident f32
  // panel, then sweep all inputs over it (3 rows x 4 inputs = 12 accumulators + 3 weight
  // registers + 1 input register fills the 16 ymm registers).
  thread_local std::vector<float> panel;
  if (panel.size() < static_cast<size_t>(3 * k)) panel.resize(static_cast<size_t>(3 * k));
  float* p = panel.data();
  int64_t j = n_begin;
  for (; j + 3 <= n_end; j += 3) {
    for (int r = 0; r < 3; ++r) {
      const uint16_t* src = w + (j + r) * ldw;
      float* dst = p + r * k;
      int64_t t = 0;
      // Prefetch the same row of the next group while widening this one (no arithmetic change).
      const char* pf = j + 6 <= n_end ? reinterpret_cast<const char*>(src + 3 * ldw) : nullptr;
      for (; t + 8 <= k; t += 8) {
        if (pf != nullptr && (t & 31) == 0) _mm_prefetch(pf + 2 * t, _MM_HINT_T0);
        _mm256_storeu_ps(dst + t, simd::load_bf16x8(src + t));
      }
      for (; t < k; ++t) dst[t] = simd::bf16_scalar(src[t]);
    }
    rows_all_inputs<3>(static_cast<const float*>(p), k, x, ldx, m, k, y + j, ldy);
  }
  for (; j < n_end; ++j) rows_all_inputs<1>(w + j * ldw, ldw, x, ldx, m, k, y + j, ldy);
}

}  // namespace mlaserve::cpu
