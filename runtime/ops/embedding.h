#pragma once
// Embedding lookup: out[t, :] = table[ids[t] - row_offset, :].
// table: [rows, dim] bf16 (or f32), contiguous. ids: [T] i32 or i64. out: [T, dim] f32 or bf16.
// Vocabulary-parallel shards pass row_offset = first vocabulary row of the shard and
// zero_outside_shard = true: ids outside [row_offset, row_offset + rows) give zero rows, so an
// all-reduce over the shards completes the lookup. Otherwise such ids throw kOutOfRange.
#include "runtime/core/tensor.h"

namespace mlaserve::ops {

void embedding(const Tensor& ids, const Tensor& table, const Tensor& out, int64_t row_offset = 0,
               bool zero_outside_shard = false);
Tensor embedding(const Tensor& ids, const Tensor& table, DType out_dtype = DType::kF32,
                 int64_t row_offset = 0, bool zero_outside_shard = false);

}  // namespace mlaserve::ops
