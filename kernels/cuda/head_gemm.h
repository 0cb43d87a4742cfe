#pragma once
// Batched small GEMMs with bf16 weights and f32 activations, one problem per attention head:
//   C[b][m][n] = Σ_k A[b][m][k] · B[b][k][n]      (f32 accumulation, f32 out)
// A is f32 with unit stride along k; B is bf16 bits with unit stride along n (W_UK_h [k, n]) or
// along k (W_UV_h read transposed, [n, k]); C is f32 with unit stride along n. Strides are in
// elements. cuBLAS cannot take this mix (its A and B must share a type), and rounding A to bf16
// would cost the f32 mode its exactness, so MLA's absorb/unabsorb products run here.
#include <cstdint>

#include <cuda_runtime_api.h>

namespace mlaserve::cuda {

struct HeadGemmArgs {
  const float* a = nullptr;
  int64_t a_batch_stride = 0, a_row_stride = 0;
  const uint16_t* b = nullptr;
  int64_t b_batch_stride = 0, b_k_stride = 0, b_n_stride = 0;  // b_k_stride or b_n_stride is 1
  float* c = nullptr;
  int64_t c_batch_stride = 0, c_row_stride = 0;
  int64_t batch = 0, m = 0, n = 0, k = 0;
};

void head_gemm_bf16(const HeadGemmArgs& args, cudaStream_t stream);

}  // namespace mlaserve::cuda
