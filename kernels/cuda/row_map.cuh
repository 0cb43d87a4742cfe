#pragma once
// Element-wise maps over [rows, cols] operands (kernels/cuda/float_rows.h), computed in f32 and
// rounded once on store, shared by the elementwise and activation kernels. Included only from
// .cu files.
//
// Launch shape: grid.x is the row (up to 2^31 - 1 rows), grid.y splits a row into chunks of
// kRowChunk columns (capped at 65535; threads then stride over the rest), so a decode step's
// single row still spreads over several SMs. Offsets are 64-bit.
//
// An output may alias an input when both are the same rows (same pointer and ld): every element
// is read and written by the same thread in the same iteration. Partial overlaps are undefined.
#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/float_rows.h"

namespace mlaserve::cuda {

constexpr int kRowThreads = 256;
constexpr int64_t kRowChunk = int64_t{kRowThreads} * 4;

inline dim3 row_grid(int64_t rows, int64_t cols) {
  const int64_t chunks = (cols + kRowChunk - 1) / kRowChunk;
  return dim3(static_cast<unsigned>(rows), static_cast<unsigned>(chunks < 65535 ? chunks : 65535));
}

// The launch limits of row_grid, checked once per call on the host.
inline void check_row_shape(const char* op, int64_t rows, int64_t cols) {
  MLA_ENSURE(rows >= 0 && cols >= 0 && rows <= 0x7fffffff, kInvalidArgument, op, ": ", rows,
             " rows of ", cols, " columns (at most 2^31 - 1 rows per launch)");
}

// Calls body(c) for every column c of this block's row that the thread owns; consecutive
// threads take consecutive columns (coalesced).
template <typename Body>
__device__ __forceinline__ void for_row_columns(int64_t cols, Body body) {
  for (int64_t base = int64_t{blockIdx.y} * kRowChunk; base < cols;
       base += int64_t{gridDim.y} * kRowChunk) {
#pragma unroll
    for (int k = 0; k < kRowChunk / kRowThreads; ++k) {
      const int64_t c = base + k * kRowThreads + threadIdx.x;
      if (c < cols) body(c);
    }
  }
}

// out = f(a)
template <typename Out, typename A, typename F>
__global__ void map1_rows_kernel(Out* out, int64_t ldo, const A* a, int64_t lda, int64_t cols,
                                 F f) {
  Out* o = out + int64_t{blockIdx.x} * ldo;
  const A* ar = a + int64_t{blockIdx.x} * lda;
  for_row_columns(cols, [&](int64_t c) { o[c] = from_f32<Out>(f(to_f32(ar[c]))); });
}

// out = f(a, b)
template <typename Out, typename A, typename B, typename F>
__global__ void map2_rows_kernel(Out* out, int64_t ldo, const A* a, int64_t lda, const B* b,
                                 int64_t ldb, int64_t cols, F f) {
  Out* o = out + int64_t{blockIdx.x} * ldo;
  const A* ar = a + int64_t{blockIdx.x} * lda;
  const B* br = b + int64_t{blockIdx.x} * ldb;
  for_row_columns(cols, [&](int64_t c) { o[c] = from_f32<Out>(f(to_f32(ar[c]), to_f32(br[c]))); });
}

namespace row_map_detail {

template <typename T>
T* typed(void* p) { return static_cast<T*>(p); }

template <typename Out, typename A, typename F>
void launch1(FloatRows out, FloatRows a, int64_t rows, int64_t cols, F f, cudaStream_t stream) {
  map1_rows_kernel<Out, A, F><<<row_grid(rows, cols), kRowThreads, 0, stream>>>(
      typed<Out>(out.data), out.ld, typed<const A>(a.data), a.ld, cols, f);
}

template <typename Out, typename A, typename B, typename F>
void launch2(FloatRows out, FloatRows a, FloatRows b, int64_t rows, int64_t cols, F f,
             cudaStream_t stream) {
  map2_rows_kernel<Out, A, B, F><<<row_grid(rows, cols), kRowThreads, 0, stream>>>(
      typed<Out>(out.data), out.ld, typed<const A>(a.data), a.ld, typed<const B>(b.data), b.ld,
      cols, f);
}

template <typename Out, typename A, typename F>
void dispatch2_b(FloatRows out, FloatRows a, FloatRows b, int64_t rows, int64_t cols, F f,
                 cudaStream_t stream) {
  if (b.bf16) launch2<Out, A, __nv_bfloat16>(out, a, b, rows, cols, f, stream);
  else launch2<Out, A, float>(out, a, b, rows, cols, f, stream);
}

template <typename Out, typename F>
void dispatch2_a(FloatRows out, FloatRows a, FloatRows b, int64_t rows, int64_t cols, F f,
                 cudaStream_t stream) {
  if (a.bf16) dispatch2_b<Out, __nv_bfloat16>(out, a, b, rows, cols, f, stream);
  else dispatch2_b<Out, float>(out, a, b, rows, cols, f, stream);
}

}  // namespace row_map_detail

// out = f(a) over [rows, cols], every dtype combination. `f` is a functor float -> float.
template <typename F>
void map1_rows(const char* op, FloatRows out, FloatRows a, int64_t rows, int64_t cols, F f,
               cudaStream_t stream) {
  using namespace row_map_detail;
  check_row_shape(op, rows, cols);
  if (rows == 0 || cols == 0) return;
  if (out.bf16) {
    if (a.bf16) launch1<__nv_bfloat16, __nv_bfloat16>(out, a, rows, cols, f, stream);
    else launch1<__nv_bfloat16, float>(out, a, rows, cols, f, stream);
  } else {
    if (a.bf16) launch1<float, __nv_bfloat16>(out, a, rows, cols, f, stream);
    else launch1<float, float>(out, a, rows, cols, f, stream);
  }
  MLA_CUDA_CHECK(cudaGetLastError());
}

// out = f(a, b) over [rows, cols], every dtype combination. `f` is a functor (float, float) ->
// float.
template <typename F>
void map2_rows(const char* op, FloatRows out, FloatRows a, FloatRows b, int64_t rows,
               int64_t cols, F f, cudaStream_t stream) {
  using namespace row_map_detail;
  check_row_shape(op, rows, cols);
  if (rows == 0 || cols == 0) return;
  if (out.bf16) dispatch2_a<__nv_bfloat16>(out, a, b, rows, cols, f, stream);
  else dispatch2_a<float>(out, a, b, rows, cols, f, stream);
  MLA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mlaserve::cuda
