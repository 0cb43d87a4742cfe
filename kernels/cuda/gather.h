#pragma once
// Row gather and deterministic weighted scatter-add on the device: how MoE groups the tokens
// routed to one expert into a dense block and adds the expert's output back to them.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/cuda/float_rows.h"

namespace mlaserve::cuda {

// out[i, :] = x[rows[i], :] for i < n_rows; x: [x_rows, cols] rows `ldx` elements apart, any
// element size (1, 2, 4 or 8 bytes); out: contiguous [n_rows, cols]. rows: device i64. An index
// outside [0, x_rows) gives a zero row (callers validate indices on the host; the kernel never
// reads out of bounds).
void gather_rows(const void* x, int64_t x_rows, int64_t ldx, const int64_t* rows, int64_t n_rows,
                 void* out, int64_t cols, size_t elem_bytes, cudaStream_t stream);

// y[t, :] += weights[i] * src[i, :] for every i with rows[i] == t, applied in increasing i, one
// fused multiply-add per term — the CPU's sequence of add_scaled_ calls, bit for bit, with no
// atomics (deterministic whatever the launch). The inverse of `rows` comes precomputed (the host
// has rows; see ops/gather.cc): targets[k] (k < n_targets) is the k-th distinct destination row,
// and order[offsets[k] .. offsets[k + 1]) are the i that add into it, ascending.
// y: contiguous f32 [y_rows, cols]; src: [n_src, cols] f32 or bf16 (rows src.ld apart).
struct ScatterAddArgs {
  float* y = nullptr;
  int64_t y_rows = 0;
  int64_t cols = 0;
  FloatRows src;
  int64_t n_src = 0;
  const float* weights = nullptr;  // [n_src]
  const int64_t* targets = nullptr;  // [n_targets]
  const int64_t* offsets = nullptr;  // [n_targets + 1]
  const int64_t* order = nullptr;    // [offsets[n_targets]]
  int64_t n_targets = 0;
};

void scatter_add_rows(const ScatterAddArgs& args, cudaStream_t stream);

}  // namespace mlaserve::cuda
