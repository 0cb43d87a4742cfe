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

// Box-Muller on the two 32-bit halves of one 64-bit draw gives normals 2p and 2p+1.
void normal_pair(uint64_t key, uint64_t pair, double& z0, double& z1) {
  const uint64_t bits = mix(key + (pair + 1) * kGolden);
  const double u1 = (static_cast<double>(bits >> 32) + 1.0) / 4294967296.0;  // (0, 1]: log is finite
  const double u2 = static_cast<double>(bits & 0xFFFFFFFFu) / 4294967296.0;
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * M_PI * u2;
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
  double z[2];
  for (size_t j = 0; j < count;) {
    const uint64_t i = first + j;
    normal_pair(key, i / 2, z[0], z[1]);
    for (uint64_t k = i % 2; k < 2 && j < count; ++k, ++j)
      out[j] = float_to_bf16(static_cast<float>(mean + std * z[k]));
  }
}

}  // namespace mlaserve
