#include "kernels/cpu/embedding.h"

#include <cstring>

#include "kernels/cpu/convert.h"

namespace mlaserve::cpu {

void embedding_bf16_to_f32(const uint16_t* table, int64_t rows, int64_t dim, const int64_t* ids,
                           int64_t n_ids, int64_t row_offset, float* out, int64_t ldo) {
  for (int64_t t = 0; t < n_ids; ++t) {
    const int64_t r = ids[t] - row_offset;
    if (r >= 0 && r < rows) {
      bf16_to_f32(table + r * dim, out + t * ldo, dim);
    } else {
      std::memset(out + t * ldo, 0, static_cast<size_t>(dim) * sizeof(float));
    }
  }
}

void embedding_bf16_to_bf16(const uint16_t* table, int64_t rows, int64_t dim, const int64_t* ids,
                            int64_t n_ids, int64_t row_offset, uint16_t* out, int64_t ldo) {
  for (int64_t t = 0; t < n_ids; ++t) {
    const int64_t r = ids[t] - row_offset;
    if (r >= 0 && r < rows) {
      std::memcpy(out + t * ldo, table + r * dim, static_cast<size_t>(dim) * sizeof(uint16_t));
    } else {
      std::memset(out + t * ldo, 0, static_cast<size_t>(dim) * sizeof(uint16_t));
    }
  }
}

}  // namespace mlaserve::cpu
