#pragma once
// Embedding lookup: out[t, :] = table[ids[t] - row_offset, :].
// table: [rows, dim] bf16 (or f32), contiguous. ids: [T] i32 or i64. out: [T, dim] f32 or bf16
// (rows may be strided). All three on one device; the lookup runs there.
// Vocabulary-parallel shards pass row_offset = first vocabulary row of the shard and
// zero_outside_shard = true: ids outside [row_offset, row_offset + rows) give zero rows, so an
// all-reduce over the shards completes the lookup. Otherwise such ids throw kOutOfRange — on the
// CPU only: on a GPU the ids live in device memory and checking them would stall the stream on
// a host sync, so there the caller validates ids (the model checks token ids on the host before
// uploading them) and an id outside the table gives a zero row; the table is never read out of
// bounds.
#include "runtime/core/tensor.h"

namespace mlaserve::ops {

void embedding(const Tensor& ids, const Tensor& table, const Tensor& out, int64_t row_offset = 0,
               bool zero_outside_shard = false);
// out on the table's device.
Tensor embedding(const Tensor& ids, const Tensor& table, DType out_dtype = DType::kF32,
                 int64_t row_offset = 0, bool zero_outside_shard = false);

}  // namespace mlaserve::ops
