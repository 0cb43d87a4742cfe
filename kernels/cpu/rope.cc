#include "kernels/cpu/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "kernels/cpu/simd.h"

namespace mlaserve::cpu {
namespace {

// DeepSeek's find_correction_dim: the rope dim index whose wavelength fits `rotations` turns
// into the original context length. Computed in double, as Python does.
double correction_dim(double rotations, int64_t dim, double base, int64_t original) {
  return static_cast<double>(dim) *
         std::log(static_cast<double>(original) / (rotations * 2.0 * std::numbers::pi)) /
         (2.0 * std::log(base));
}

}  // namespace

void rope_inv_freq(const RopeParams& p, float* inv_freq) {
  const int64_t half = p.dim / 2;
  // Each line rounds to f32 where the reference's f32 tensors do: bit-exact angles matter more
  // than the last ulp of theta (see rope_build_table).
  for (int64_t i = 0; i < half; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(p.dim);
    const float powed = static_cast<float>(std::pow(p.base, static_cast<double>(e)));
    inv_freq[i] = 1.0f / powed;
  }
  if (!p.yarn) return;
  const double lo_d = std::floor(correction_dim(p.beta_fast, p.dim, p.base, p.original_max_positions));
  const double hi_d = std::ceil(correction_dim(p.beta_slow, p.dim, p.base, p.original_max_positions));
  const double lo = std::max(lo_d, 0.0);
  double hi = std::min(hi_d, static_cast<double>(p.dim - 1));
  if (lo == hi) hi += 0.001;
  const float lo_f = static_cast<float>(lo);
  const float span = static_cast<float>(hi - lo);
  const float factor = static_cast<float>(p.factor);
  for (int64_t i = 0; i < half; ++i) {
    float ramp = (static_cast<float>(i) - lo_f) / span;
    ramp = std::clamp(ramp, 0.0f, 1.0f);
    const float smooth = 1.0f - ramp;
    const float f = inv_freq[i];
    inv_freq[i] = (f / factor) * (1.0f - smooth) + f * smooth;
  }
}

void rope_build_table(const RopeParams& p, int64_t positions, float* cos_out, float* sin_out) {
  const int64_t half = p.dim / 2;
  std::vector<float> inv(static_cast<size_t>(half));
  rope_inv_freq(p, inv.data());
  const float ms = static_cast<float>(p.mscale);
  for (int64_t pos = 0; pos < positions; ++pos) {
    for (int64_t i = 0; i < half; ++i) {
      // The reference forms the angle as an f32 product (torch.outer over f32); at position
      // 4000 its rounding moves the angle by ~1e-4 rad, far above 1e-6, so we round it the same
      // way and only then take cos/sin (in double, correctly rounded).
      const float angle = static_cast<float>(pos) * inv[i];
      float c = static_cast<float>(std::cos(static_cast<double>(angle)));
      float s = static_cast<float>(std::sin(static_cast<double>(angle)));
      if (ms != 1.0f) {
        c *= ms;
        s *= ms;
      }
      cos_out[pos * half + i] = c;
      sin_out[pos * half + i] = s;
    }
  }
}

namespace {

template <typename T>
void rope_apply_impl(T* x, int64_t n_tokens, int64_t n_heads, int64_t dim, int64_t token_stride,
                     int64_t head_stride, const int64_t* positions, const float* cos_table,
                     const float* sin_table) {
  const int64_t half = dim / 2;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* c = cos_table + positions[t] * half;
    const float* s = sin_table + positions[t] * half;
    for (int64_t h = 0; h < n_heads; ++h) {
      T* v = x + t * token_stride + h * head_stride;
      for (int64_t i = 0; i < half; ++i) {
        float a, b;
        if constexpr (std::is_same_v<T, float>) {
          a = v[2 * i];
          b = v[2 * i + 1];
        } else {
          a = simd::bf16_scalar(v[2 * i]);
          b = simd::bf16_scalar(v[2 * i + 1]);
        }
        // (a + ib)(c + is), the reference's complex product.
        const float ra = a * c[i] - b * s[i];
        const float rb = a * s[i] + b * c[i];
        if constexpr (std::is_same_v<T, float>) {
          v[2 * i] = ra;
          v[2 * i + 1] = rb;
        } else {
          v[2 * i] = simd::float_to_bf16_rne(ra);
          v[2 * i + 1] = simd::float_to_bf16_rne(rb);
        }
      }
    }
  }
}

}  // namespace

void rope_apply_f32(float* x, int64_t n_tokens, int64_t n_heads, int64_t dim,
                    int64_t token_stride, int64_t head_stride, const int64_t* positions,
                    const float* cos_table, const float* sin_table) {
  rope_apply_impl(x, n_tokens, n_heads, dim, token_stride, head_stride, positions, cos_table,
                  sin_table);
}

void rope_apply_bf16(uint16_t* x, int64_t n_tokens, int64_t n_heads, int64_t dim,
                     int64_t token_stride, int64_t head_stride, const int64_t* positions,
                     const float* cos_table, const float* sin_table) {
  rope_apply_impl(x, n_tokens, n_heads, dim, token_stride, head_stride, positions, cos_table,
                  sin_table);
}

}  // namespace mlaserve::cpu
