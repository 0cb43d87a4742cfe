#include "runtime/model/random_weights.h"

#include <cmath>

#include "runtime/core/dtype.h"

namespace mlaserve {
namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

// splitmix64's output function: its n-th output is mix(state + n·golden), so any position of the
// sequence can be computed directly.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Box-Muller on two 24-bit uniforms from one 64-bit draw gives normals 2p and 2p+1. Float maths
// is plenty for weights (tails reach 5.8 sigma) and twice as fast as double.
void normal_pair(uint64_t key, uint64_t pair, float& z0, float& z1) {
  const uint64_t bits = mix(key + (pair + 1) * kGolden);
  constexpr float kUnit = 1.0f / 16777216.0f;
  const float u1 = (static_cast<float>(bits >> 40) + 1.0f) * kUnit;  // (0, 1]: log is finite
  const float u2 = static_cast<float>(bits & 0xFFFFFFu) * kUnit;
  const float r = std::sqrt(-2.0f * std::log(u1));
  const float angle = 6.28318530717958647f * u2;
  z0 = r * std::cos(angle);
  z1 = r * std::sin(angle);
}

}  // namespace

uint64_t random_stream_key(uint64_t seed, std::string_view tensor_name) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a
  for (unsigned char c : tensor_name) h = (h ^ c) * 0x100000001B3ull;
  return mix(mix(seed) ^ h);
}

void fill_normal_bf16(uint64_t key, uint64_t first, size_t count, float mean, float std,
                      uint16_t* out) {
  float z[2];
  for (size_t j = 0; j < count;) {
    const uint64_t i = first + j;
    normal_pair(key, i / 2, z[0], z[1]);
    for (uint64_t k = i % 2; k < 2 && j < count; ++k, ++j)
      out[j] = float_to_bf16(mean + std * z[k]);
  }
}

}  // namespace mlaserve
