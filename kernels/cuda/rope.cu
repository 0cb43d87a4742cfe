#include "kernels/cuda/rope.h"

#include <cuda_bf16.h>

#include "kernels/cuda/row_map.cuh"

namespace mlaserve::cuda {
namespace {

// One block row per token (grid.x); its n_heads * dim / 2 pairs are the "columns" spread over
// threads and grid.y (row_map.cuh). Pair p is head p / half, index p % half.
template <typename T, typename Pos>
__global__ void rope_kernel(T* x, int64_t n_heads, int64_t half, int64_t token_stride,
                            int64_t head_stride, const Pos* positions, const float* cos_table,
                            const float* sin_table, int64_t max_positions) {
  const int64_t pos = static_cast<int64_t>(positions[blockIdx.x]);
  if (pos < 0 || pos >= max_positions) return;  // see rope.h: left unrotated
  const float* c_row = cos_table + pos * half;
  const float* s_row = sin_table + pos * half;
  T* token = x + int64_t{blockIdx.x} * token_stride;
  for_row_columns(n_heads * half, [&](int64_t p) {
    const int64_t h = p / half, i = p % half;
    T* v = token + h * head_stride + 2 * i;
    const float a = to_f32(v[0]), b = to_f32(v[1]);
    const float c = c_row[i], s = s_row[i];
    // (a + ib)(c + is) with each product rounded, as the CPU kernel's separate multiplies.
    v[0] = from_f32<T>(__fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s)));
    v[1] = from_f32<T>(__fadd_rn(__fmul_rn(a, s), __fmul_rn(b, c)));
  });
}

template <typename T, typename Pos>
void launch(const RopeArgs& a, cudaStream_t stream) {
  const int64_t half = a.dim / 2;
  rope_kernel<T, Pos><<<row_grid(a.n_tokens, a.n_heads * half), kRowThreads, 0, stream>>>(
      static_cast<T*>(a.x), a.n_heads, half, a.token_stride, a.head_stride,
      static_cast<const Pos*>(a.positions), a.cos, a.sin, a.max_positions);
}

template <typename T>
void launch_pos(const RopeArgs& a, cudaStream_t stream) {
  if (a.positions_i64) launch<T, int64_t>(a, stream);
  else launch<T, int32_t>(a, stream);
}

}  // namespace

void rope(const RopeArgs& a, cudaStream_t stream) {
  MLA_ENSURE(a.dim > 0 && a.dim % 2 == 0 && a.n_heads >= 0 && a.max_positions >= 0,
             kInvalidArgument, "apply_rope: rope dim ", a.dim, " (positive, even), ", a.n_heads,
             " heads, a table of ", a.max_positions, " positions");
  check_row_shape("apply_rope", a.n_tokens, a.n_heads * (a.dim / 2));
  if (a.n_tokens == 0 || a.n_heads == 0) return;
  if (a.x_bf16) launch_pos<__nv_bfloat16>(a, stream);
  else launch_pos<float>(a, stream);
  MLA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mlaserve::cuda
