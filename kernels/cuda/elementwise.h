#pragma once
// In-place element-wise updates and dtype conversion on the device, over [rows, cols] operands
// (float_rows.h), each f32 or bf16. Computed in f32 and rounded once on store, as the CPU path
// of ops/elementwise.h does; add, axpy (one fused multiply-add, like cpu::axpy) and scale give
// the CPU's bits.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/cuda/float_rows.h"

namespace mlaserve::cuda {

void add(FloatRows y, FloatRows x, int64_t rows, int64_t cols, cudaStream_t stream);  // y += x
void axpy(FloatRows y, FloatRows x, float alpha, int64_t rows, int64_t cols,
          cudaStream_t stream);                                                    // y += a*x
void scale(FloatRows y, float s, int64_t rows, int64_t cols, cudaStream_t stream);  // y *= s
// dst = src rounded to dst's dtype (f32 <-> bf16; same dtypes copy exactly).
void convert(FloatRows dst, FloatRows src, int64_t rows, int64_t cols, cudaStream_t stream);
// Byte-exact copy of [rows, cols] elements of `elem_bytes` each, any dtype; lds/ldd in
// elements. dst and src must not overlap (unless they are the same rows: then nothing happens).
void copy_rows(void* dst, int64_t ldd, const void* src, int64_t lds, int64_t rows, int64_t cols,
               size_t elem_bytes, cudaStream_t stream);

}  // namespace mlaserve::cuda
