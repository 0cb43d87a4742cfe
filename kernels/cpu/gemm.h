#pragma once
// Larger products through OpenBLAS sgemm, single-threaded per call (callers split n over our
// thread pool; OpenBLAS's own threads are switched off so the two never oversubscribe).
#include <cstdint>

namespace mlaserve::cpu {

// Y[i, j] = sum_t X[i, t] * W[j, t] for i < m, j in [n_begin, n_end), W bf16 [n, k]. Weight rows
// are widened to f32 in panels of kGemmPanelRows inside `scratch` (kGemmPanelRows * k floats),
// then multiplied with sgemm. For determinism across thread counts callers must pass ranges
// whose bounds are multiples of kGemmPanelRows (or n).
inline constexpr int64_t kGemmPanelRows = 64;
void gemm_bf16(const float* x, int64_t ldx, int64_t m, const uint16_t* w, int64_t ldw, int64_t k,
               float* y, int64_t ldy, int64_t n_begin, int64_t n_end, float* scratch);

// The same with f32 weights (small matrices built at load time, e.g. absorbed attention).
void gemm_f32(const float* x, int64_t ldx, int64_t m, const float* w, int64_t ldw, int64_t k,
              float* y, int64_t ldy, int64_t n_begin, int64_t n_end);

// Makes OpenBLAS single-threaded; idempotent, called by the functions above.
void blas_use_one_thread();

}  // namespace mlaserve::cpu
