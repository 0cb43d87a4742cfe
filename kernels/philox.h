#pragma once
// Philox4x32-10, the counter-based generator of Random123 (Salmon, Moraes, Dror, Shaw: "Parallel
// Random Numbers: As Easy as 1, 2, 3", SC'11), also behind cuRAND's and PyTorch's Philox. Its
// output is a pure function of a 128-bit counter and a 64-bit key: no state to carry, so a value
// can be drawn for any (key, counter) on any device, in any order, and comes out the same.
//
// Header-only and dependency-free so that CPU code and CUDA kernels share one definition; under
// nvcc the functions are __host__ __device__. Only 32x32->64-bit products, xors and adds: the
// results are bitwise identical everywhere. Checked against Random123's known-answer vectors in
// tests/kernels/cpu/philox_test.cc (and on the device in tests/kernels/cuda/).
#include <cstdint>

#include "kernels/host_device.h"

namespace mlaserve::philox {

struct Counter {
  uint32_t v[4];
};
struct Key {
  uint32_t v[2];
};

// The paper's constants for Philox4x32: the round multipliers and the Weyl key increments
// (golden ratio and sqrt(3) - 1, as 32-bit fractions).
inline constexpr uint32_t kMul0 = 0xD2511F53u;
inline constexpr uint32_t kMul1 = 0xCD9E8D57u;
inline constexpr uint32_t kWeyl0 = 0x9E3779B9u;
inline constexpr uint32_t kWeyl1 = 0xBB67AE85u;
inline constexpr int kRounds = 10;

// One round: two 32x32 products; their high halves are mixed (xor) into the other words with
// the round key, the words are permuted.
MLA_HOST_DEVICE Counter one_round(Counter c, Key k) {
  const uint64_t p0 = static_cast<uint64_t>(kMul0) * c.v[0];
  const uint64_t p1 = static_cast<uint64_t>(kMul1) * c.v[2];
  const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
  const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
  return Counter{{hi1 ^ c.v[1] ^ k.v[0], lo1, hi0 ^ c.v[3] ^ k.v[1], lo0}};
}

// Philox4x32 with 10 rounds; the key is bumped by the Weyl increments between rounds.
MLA_HOST_DEVICE Counter philox4x32_10(Counter c, Key k) {
  for (int r = 0; r < kRounds; ++r) {
    if (r > 0) {
      k.v[0] += kWeyl0;
      k.v[1] += kWeyl1;
    }
    c = one_round(c, k);
  }
  return c;
}

// A double in [0, 1) with 53 random bits: the top 53 bits of the 64-bit word (out[1]:out[0]),
// scaled by 2^-53 (exact: every such value is a double).
MLA_HOST_DEVICE double uniform53(const Counter& out) {
  const uint64_t bits = (static_cast<uint64_t>(out.v[1]) << 32) | out.v[0];
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace mlaserve::philox
