#pragma once
// Softmax over the last dimension, numerically stable, in f32. x, out: f32, same shape
// ([..., n] contiguous or rank-2 row-strided), on one device (where it runs); out may be x (in
// place). Fully -inf rows give 0.
#include "runtime/core/tensor.h"

namespace mlaserve::ops {

void softmax_rows(const Tensor& x, const Tensor& out);

}  // namespace mlaserve::ops
