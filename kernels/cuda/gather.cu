#include "kernels/cuda/gather.h"

#include <cuda_bf16.h>

#include "kernels/cuda/row_map.cuh"

namespace mlaserve::cuda {
namespace {

// One block row per output row (grid.x), columns over threads and grid.y (row_map.cuh).
template <typename Word>
__global__ void gather_rows_kernel(const Word* x, int64_t x_rows, int64_t ldx,
                                   const int64_t* rows, Word* out, int64_t cols) {
  const int64_t r = rows[blockIdx.x];
  const bool inside = r >= 0 && r < x_rows;
  const Word* src = x + (inside ? r : 0) * ldx;
  Word* dst = out + int64_t{blockIdx.x} * cols;
  for_row_columns(cols, [&](int64_t c) { dst[c] = inside ? src[c] : Word{0}; });
}

template <typename Word>
void launch_gather(const void* x, int64_t x_rows, int64_t ldx, const int64_t* rows,
                   int64_t n_rows, void* out, int64_t cols, cudaStream_t stream) {
  gather_rows_kernel<Word><<<row_grid(n_rows, cols), kRowThreads, 0, stream>>>(
      static_cast<const Word*>(x), x_rows, ldx, rows, static_cast<Word*>(out), cols);
}

// One block row per destination row: each thread owns its columns of that row and walks the
// contributions in increasing i, so the order of additions is fixed by the data alone.
template <typename Src>
__global__ void scatter_add_kernel(float* y, int64_t y_rows, int64_t cols, const Src* src,
                                   int64_t lds, int64_t n_src, const float* weights,
                                   const int64_t* targets, const int64_t* offsets,
                                   const int64_t* order) {
  const int64_t t = targets[blockIdx.x];
  if (t < 0 || t >= y_rows) return;  // the host built these; a guard, not a contract
  const int64_t begin = offsets[blockIdx.x], end = offsets[blockIdx.x + 1];
  float* dst = y + t * cols;
  for_row_columns(cols, [&](int64_t c) {
    float acc = dst[c];
    for (int64_t k = begin; k < end; ++k) {
      const int64_t i = order[k];
      if (i < 0 || i >= n_src) continue;
      acc = fmaf(weights[i], to_f32(src[i * lds + c]), acc);
    }
    dst[c] = acc;
  });
}

}  // namespace

void gather_rows(const void* x, int64_t x_rows, int64_t ldx, const int64_t* rows, int64_t n_rows,
                 void* out, int64_t cols, size_t elem_bytes, cudaStream_t stream) {
  check_row_shape("gather_rows", n_rows, cols);
  if (n_rows == 0 || cols == 0) return;
  switch (elem_bytes) {
    case 1: launch_gather<uint8_t>(x, x_rows, ldx, rows, n_rows, out, cols, stream); break;
    case 2: launch_gather<uint16_t>(x, x_rows, ldx, rows, n_rows, out, cols, stream); break;
    case 4: launch_gather<uint32_t>(x, x_rows, ldx, rows, n_rows, out, cols, stream); break;
    case 8: launch_gather<uint64_t>(x, x_rows, ldx, rows, n_rows, out, cols, stream); break;
    default: fail(ErrorCode::kInvalidArgument, "gather_rows: elements of ", elem_bytes, " bytes");
  }
  MLA_CUDA_CHECK(cudaGetLastError());
}

void scatter_add_rows(const ScatterAddArgs& a, cudaStream_t stream) {
  check_row_shape("scatter_add_rows_", a.n_targets, a.cols);
  if (a.n_targets == 0 || a.cols == 0) return;
  const dim3 grid = row_grid(a.n_targets, a.cols);
  if (a.src.bf16)
    scatter_add_kernel<__nv_bfloat16><<<grid, kRowThreads, 0, stream>>>(
        a.y, a.y_rows, a.cols, static_cast<const __nv_bfloat16*>(a.src.data), a.src.ld, a.n_src,
        a.weights, a.targets, a.offsets, a.order);
  else
    scatter_add_kernel<float><<<grid, kRowThreads, 0, stream>>>(
        a.y, a.y_rows, a.cols, static_cast<const float*>(a.src.data), a.src.ld, a.n_src,
        a.weights, a.targets, a.offsets, a.order);
  MLA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mlaserve::cuda
