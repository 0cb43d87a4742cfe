#pragma once
// Rotary position embedding on the interleaved layout of DeepSeek-V2 checkpoints: the pair
// (x[2i], x[2i+1]) rotates by the angle pos * theta_i, using a precomputed table
// cos/sin[pos, i] (i < dim / 2) that already carries any YaRN mscale factor.
#include <cstdint>

namespace mlaserve::cpu {

// theta_i for i < dim / 2 exactly as DeepSeek's reference computes them, in f32:
// 1 / base^(2i/dim), then (YaRN, when factor > 0) freqs/factor*(1-smooth) + freqs*smooth with
// smooth = 1 - ramp(i) over the correction range [lo, hi] of beta_fast, beta_slow and
// original_max_positions.
struct RopeParams {
  int64_t dim = 0;  // rope dims per head (even)
  double base = 10000.0;
  bool yarn = false;
  double factor = 1.0;
  int64_t original_max_positions = 0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;  // cos/sin multiplier: mscale(f, mscale) / mscale(f, mscale_all_dim)
};
void rope_inv_freq(const RopeParams& p, float* inv_freq /* dim / 2 */);

// cos/sin tables [positions, dim / 2]: angle = f32(pos * inv_freq[i]) (the reference's f32
// outer product), cos/sin of that f32 angle evaluated in double and rounded, times mscale.
void rope_build_table(const RopeParams& p, int64_t positions, float* cos_out, float* sin_out);

// In-place rotation of x[t, h, 0:dim] for tokens t < n_tokens and heads h < n_heads, element
// (t, h, d) at x[t * token_stride + h * head_stride + d]; positions[t] indexes the table.
void rope_apply_f32(float* x, int64_t n_tokens, int64_t n_heads, int64_t dim,
                    int64_t token_stride, int64_t head_stride, const int64_t* positions,
                    const float* cos_table, const float* sin_table);
void rope_apply_bf16(uint16_t* x, int64_t n_tokens, int64_t n_heads, int64_t dim,
                     int64_t token_stride, int64_t head_stride, const int64_t* positions,
                     const float* cos_table, const float* sin_table);

}  // namespace mlaserve::cpu
