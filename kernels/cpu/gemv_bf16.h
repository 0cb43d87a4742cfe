#pragma once
// Matrix-vector products against bf16 weights stored row-major [n, k] (HF layout: one row per
// output feature). Weights are widened to f32 in registers; accumulation is f32.
//
// Each function computes only output features j in [n_begin, n_end), so callers can split n over
// threads. The value of y[j] depends only on row j and x — not on the range it was computed in —
// so any split gives bitwise identical results.
#include <cstdint>

namespace mlaserve::cpu {

// y[j] = sum_t W[j, t] * x[t]. Memory-bandwidth bound: streams several weight rows at once.
void gemv_bf16(const uint16_t* w, int64_t ldw, int64_t k, const float* x, float* y,
               int64_t n_begin, int64_t n_end);

// Y[i, j] = sum_t X[i, t] * W[j, t] for i < m: each weight row is read from memory once for all
// m inputs (decode with a batch of m sequences, short prefill chunks). Meant for m up to
// about kSmallMMax.
void gemm_bf16_small_m(const float* x, int64_t ldx, int64_t m, const uint16_t* w, int64_t ldw,
                       int64_t k, float* y, int64_t ldy, int64_t n_begin, int64_t n_end);

// Up to here the register-tiled kernel beats widened-panel sgemm on this machine class (single
// thread, [m x 512] x [1408 x 512]^T: 85 vs 53 GFLOP/s at m = 32, 85 vs 65 at m = 64).
inline constexpr int64_t kSmallMMax = 64;

}  // namespace mlaserve::cpu
