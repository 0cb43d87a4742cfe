#pragma once
// Gathers rows of a bf16 table [rows, dim] into f32 or bf16 outputs.
#include <cstdint>

namespace mlaserve::cpu {

// out row t = table[ids[t] - row_offset] when that index is in [0, rows), else zeros (ids owned
// by another vocabulary shard). ids are int64; callers check ranges when no sharding is meant.
void embedding_bf16_to_f32(const uint16_t* table, int64_t rows, int64_t dim, const int64_t* ids,
                           int64_t n_ids, int64_t row_offset, float* out, int64_t ldo);
void embedding_bf16_to_bf16(const uint16_t* table, int64_t rows, int64_t dim, const int64_t* ids,
                            int64_t n_ids, int64_t row_offset, uint16_t* out, int64_t ldo);

}  // namespace mlaserve::cpu
