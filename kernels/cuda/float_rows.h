#pragma once
// The operand shape of the small element-wise kernels: a [rows, cols] matrix of f32 or bf16
// (bf16 as raw uint16_t bits), rows `ld` elements apart, unit stride inside a row. The row count
// and column count travel beside it (they are common to every operand of one call).
#include <cstdint>

namespace mlaserve::cuda {

struct FloatRows {
  void* data = nullptr;
  bool bf16 = false;
  int64_t ld = 0;
};

}  // namespace mlaserve::cuda
