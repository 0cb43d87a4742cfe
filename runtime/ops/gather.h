#pragma once
// Row gather / weighted scatter-add: how MoE groups the tokens routed to one expert into a
// dense block (one GEMM per expert) and adds the expert's output back to those tokens.
// Tensors on any one device (the op runs there); the row indices and weights are host vectors,
// validated on the host (kOutOfRange) before anything runs, and uploaded for a GPU.
#include <cstdint>
#include <vector>

#include "runtime/core/tensor.h"

namespace mlaserve::ops {

// out[i, :] = x[rows[i], :]. x: rank 2, unit last stride, any dtype; out: contiguous, x's dtype,
// on x's device.
Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& rows);
// The same with the indices already on x's device: rows [m] i64, each in [0, x.dim(0)) — the
// caller validated them on the host before uploading (a GPU cannot check them). Lets a step upload
// its indices with its other inputs at the start instead of between queued kernels.
Tensor gather_rows_at(const Tensor& x, const Tensor& rows);

// y[rows[i], :] += weights[i] * src[i, :], in order of i (rows may repeat), one fused
// multiply-add per term. y: contiguous f32 [T, n]; src: [rows.size(), n] f32 or bf16 (rows may
// be strided). Deterministic on every device: on a GPU one thread owns each element of y and
// walks the i that add into its row in increasing order — no atomics — so the result equals the
// CPU's bit for bit.
void scatter_add_rows_(const Tensor& y, const std::vector<int64_t>& rows, const Tensor& src,
                       const std::vector<float>& weights);

}  // namespace mlaserve::ops
