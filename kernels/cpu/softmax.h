#pragma once
// Numerically stable softmax of one f32 row: exp(x - max) / sum. out may alias x.
// A row of all -inf yields all zeros (a fully masked row), never NaN.
#include <cstdint>

namespace mlaserve::cpu {

void softmax_row(const float* x, float* out, int64_t n);

}  // namespace mlaserve::cpu
