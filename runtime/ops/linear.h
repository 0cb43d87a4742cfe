#pragma once
// y = x · wᵀ (a bias-free nn.Linear): x [m, k] or [..., k] (f32 or bf16 activations),
// w [n, k] (bf16 as in the checkpoint, or f32 for matrices built at load time), y [m, n] or
// [..., n] in f32 or bf16. Computed in f32 with f32 accumulation; bf16 outputs round once.
//
// On the CPU, picks the kernel by m: GEMV for m == 1 (memory-bound), the small-m kernel that
// reads every weight row once for all rows of x for m <= cpu::kSmallMMax (batched decode), and
// widened-weight sgemm panels above (prefill). Work is split over the output features on the
// global thread pool; results do not depend on the thread count.
//
// Layout: w contiguous. x and y: contiguous, or rank 2 with unit stride in the last dimension
// (row slices of a larger buffer are fine). y must not overlap x or w.
//
// Devices: x, w and y on one device (kInvalidArgument otherwise); y is allocated there. On CUDA
// the product runs through cuBLAS on the device's compute stream (kernels/cuda/linear.h: bf16
// activations in one bf16 GEMM; f32 activations split into two bf16 halves so they keep f32
// precision, ~2e-6 of the CPU in the reference metric; f32 weights in plain f32). CUDA rows of x
// and y must not overlap (ld >= row length).
#include "runtime/core/tensor.h"

namespace mlaserve::ops {

void linear(const Tensor& x, const Tensor& w, const Tensor& y);
// Allocates y with x's leading shape, n = w.dim(0) and dtype `out_dtype`.
Tensor linear(const Tensor& x, const Tensor& w, DType out_dtype = DType::kF32);

}  // namespace mlaserve::ops
