#pragma once
// Row gather / weighted scatter-add: how MoE groups the tokens routed to one expert into a
// dense block (one GEMM per expert) and adds the expert's output back to those tokens.
#include <cstdint>
#include <vector>

#include "runtime/core/tensor.h"

namespace mlaserve::ops {

// out[i, :] = x[rows[i], :]. x: rank 2, unit last stride, any dtype; out: contiguous, x's dtype.
Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& rows);

// y[rows[i], :] += weights[i] * src[i, :], in order of i. y: contiguous f32 [T, n];
// src: [rows.size(), n] f32 or bf16.
void scatter_add_rows_(const Tensor& y, const std::vector<int64_t>& rows, const Tensor& src,
                       const std::vector<float>& weights);

}  // namespace mlaserve::ops
