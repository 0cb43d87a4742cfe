#pragma once
// The arithmetic of token sampling that must come out bit for bit the same on the CPU
// (kernels/cpu/sampling.cc) and on the GPU (kernels/cuda/sampling.cu): a seed then gives the same
// token on either device, under any layout and at any point of a request. Shared here, written
// once, with only IEEE-exact operations (+, -, *, / and fma are correctly rounded on both; the
// platforms' exp and log are not, and differ in the last bit).
//
// The sampling rule for one row of logits (temperature T > 0; T == 0 is argmax, lower id on ties):
//   s_j = float(logit_j / T) (in double, rounded to float), candidates sorted by s descending,
//   ties by lower id; the first keep = min(top_k, vocab) (top_k == 0: all) are kept;
//   p_i = exp_nonpositive(s_i - s_0) in double; P_i = prefix sums of p in the chunked order below;
//   top_p < 1: n = 1 + the first i with Q_i >= top_p, Q the chunked prefix sums of p_i / P_last
//   (n = keep when none); u = uniform(seed, position) * P_{n-1}; the token is the first i < n with
//   u < P_i (i = n - 1 when none).
// Chunked prefix sums: candidates are cut into chunks of kSumChunk; a chunk's running sum starts
// at 0.0 and adds its elements in order; P_i = B_c + (running sum of i's chunk up to i), where
// B_c = ((0.0 + T_0) + T_1) + ... + T_(c-1) over the whole-chunk sums T. The order is fixed, so the
// result is one number, yet a GPU block computes the chunks in parallel instead of one thread
// adding 100k terms; every P_i is nondecreasing in i, so "the first i with ..." is well defined.
#include <cmath>
#include <cstdint>

#include "kernels/host_device.h"
#include "kernels/philox.h"

namespace mlaserve::sampling {

struct RowParams {
  double temperature = 0;  // 0: greedy
  int64_t top_k = 0;       // 0: no limit
  double top_p = 1;        // (0, 1]
  uint64_t seed = 0;
  uint64_t position = 0;   // output position of the token: tokens the request generated before it
};

inline constexpr int64_t kSumChunk = 256;

// The uniform in [0, 1) that picks the token at output `position` of a request seeded `seed`:
// Philox4x32-10 keyed by the seed, counter (position, 0) (words 2-3 stay 0: free for other draws).
MLA_HOST_DEVICE double uniform(uint64_t seed, uint64_t position) {
  const philox::Key key{{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}};
  const philox::Counter counter{
      {static_cast<uint32_t>(position), static_cast<uint32_t>(position >> 32), 0u, 0u}};
  return philox::uniform53(philox::philox4x32_10(counter, key));
}

// The logit a candidate is ranked and weighed by.
MLA_HOST_DEVICE float scaled_logit(float logit, double temperature) {
  return static_cast<float>(static_cast<double>(logit) / temperature);
}

// exp(x) for x = s_i - s_0 <= 0, from fma and exact scaling only, so both devices get the same
// bits (within ~2 ulp of exp). Below -708 (and for -inf, NaN) it is 0: such a weight is under
// 1e-307 of the top candidate's. Defined (though unused) up to 709 so no input misbehaves.
MLA_HOST_DEVICE double exp_nonpositive(double x) {
  if (!(x > -708.0)) return 0.0;
  if (x > 709.0) return HUGE_VAL;
  // x = k ln2 + r, |r| <= ln2 / 2 (Cody-Waite: ln2 split in a high part with trailing zeros).
  const double k = floor(fma(x, 0x1.71547652b82fep+0, 0.5));  // round(x / ln2)
  double r = fma(-k, 0x1.62e42fee00000p-1, x);
  r = fma(-k, 0x1.a39ef35793c76p-33, r);
  // e^r by its Taylor series to r^13 (truncation < 1e-17 for |r| <= 0.35), Horner with fma;
  // coefficients 1/n! as exact hex literals.
  double p = 0x1.6124613a86d09p-33;   // 1/13!
  p = fma(p, r, 0x1.1eed8eff8d898p-29);  // 1/12!
  p = fma(p, r, 0x1.ae64567f544e4p-26);  // 1/11!
  p = fma(p, r, 0x1.27e4fb7789f5cp-22);  // 1/10!
  p = fma(p, r, 0x1.71de3a556c734p-19);  // 1/9!
  p = fma(p, r, 0x1.a01a01a01a01ap-16);  // 1/8!
  p = fma(p, r, 0x1.a01a01a01a01ap-13);  // 1/7!
  p = fma(p, r, 0x1.6c16c16c16c17p-10);  // 1/6!
  p = fma(p, r, 0x1.1111111111111p-7);   // 1/5!
  p = fma(p, r, 0x1.5555555555555p-5);   // 1/4!
  p = fma(p, r, 0x1.5555555555555p-3);   // 1/3!
  p = fma(p, r, 0.5);
  p = fma(p, r, 1.0);
  p = fma(p, r, 1.0);
  return ldexp(p, static_cast<int>(k));  // exact: the result stays a normal double
}

// Candidates kept by top_k out of `vocab`.
MLA_HOST_DEVICE int64_t kept(int64_t top_k, int64_t vocab) {
  return top_k > 0 && top_k < vocab ? top_k : vocab;
}

}  // namespace mlaserve::sampling
