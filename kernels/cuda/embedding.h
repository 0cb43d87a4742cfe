#pragma once
// Vocabulary-parallel embedding lookup on the device: out[t, :] = table[ids[t] - row_offset, :]
// when that row is in [0, table_rows), else zeros — ids owned by another vocabulary shard, and
// on the device also ids the caller failed to validate (a kernel cannot throw; it never reads
// outside the table). ids: i32 or i64. table: contiguous [table_rows, dim] f32 or bf16 (raw
// bits). out: rows `ldo` elements apart, f32 or bf16; bf16 -> f32 is exact and f32 -> bf16
// rounds to nearest even, so results equal the CPU's bit for bit.
#include <cstdint>

#include <cuda_runtime_api.h>

namespace mlaserve::cuda {

struct EmbeddingArgs {
  const void* ids = nullptr;
  bool ids_i64 = false;
  int64_t n_ids = 0;
  const void* table = nullptr;
  bool table_bf16 = true;
  int64_t table_rows = 0;
  int64_t dim = 0;
  int64_t row_offset = 0;
  void* out = nullptr;
  bool out_bf16 = false;
  int64_t ldo = 0;
};

void embedding(const EmbeddingArgs& args, cudaStream_t stream);

}  // namespace mlaserve::cuda
