#pragma once
// Internal to runtime/ops: every op here works on "rows" — a tensor seen as [rows, cols] with
// unit stride along cols and a fixed row stride — and computes in f32. These helpers check that
// view once and stage bf16 tensors through f32 buffers.
#include <string_view>

#include "runtime/core/tensor.h"

namespace mlaserve::ops::detail {

struct Rows {
  void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;  // elements between consecutive rows
  DType dtype = DType::kF32;
};

// Views `t` as rows of its last dimension. Accepted: rank >= 1 contiguous, or rank 2 with unit
// stride in dimension 1. Throws kInvalidArgument naming `op`, `what` and t.describe() otherwise.
// Any device: `data` is a device pointer for GPU tensors. stage_in/stage_out/finish_out are
// CPU-only (CUDA kernels read and write bf16 directly).
Rows as_rows(const Tensor& t, std::string_view op, std::string_view what);

// Checks t's dtype is f32 or bf16.
void ensure_float_dtype(const Tensor& t, std::string_view op, std::string_view what);

// An f32 copy of `r` when it is bf16 (contiguous, ld = cols), else `r` itself.
struct F32Rows {
  Rows rows;
  Tensor holder;  // owns the staged copy, if any
  float* f32() const { return static_cast<float*>(rows.data); }
};
F32Rows stage_in(const Rows& r);
// An f32 buffer to compute `out` into: `out` itself when f32, else a scratch tensor; call
// finish_out afterwards to round the scratch into `out`.
F32Rows stage_out(const Rows& out);
void finish_out(const F32Rows& staged, const Rows& out);

// Rows per thread-pool chunk so that a chunk moves at least `min_bytes`.
int64_t grain_rows(int64_t bytes_per_row, int64_t min_bytes = 16 * 1024);

}  // namespace mlaserve::ops::detail
