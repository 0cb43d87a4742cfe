#pragma once
// Products with a weight stored [k, n] (input-major), e.g. q_nope · W_UK_h in absorbed MLA
// attention, where W_UK_h is a [nope, kv_lora] block of kv_b_proj.
#include <cstdint>

namespace mlaserve::cpu {

// Y[i, j] = sum_t X[i, t] * W[t, j] for i < m, j < n; W bf16 [k, n] row-major (ldw >= n).
// Every output is one FMA chain over t = 0..k-1 in order, starting from zero, whatever m and
// the tiling: a token's result is bitwise the same alone or in any batch, and equal to
// accumulating the rows of W one by one (y += x_t · W_t).
void gemm_bf16_kn(const float* x, int64_t ldx, int64_t m, const uint16_t* w, int64_t ldw,
                  int64_t k, float* y, int64_t ldy, int64_t n);

}  // namespace mlaserve::cpu
