#include "runtime/ops/mlp.h"

#include "runtime/ops/activation.h"
#include "runtime/ops/linear.h"

namespace mlaserve::ops {

Tensor mlp(const MlpWeights& w, const Tensor& x, DType act, DType out_dtype) {
  Tensor gate = linear(x, w.gate_proj, act);    // [T, inter]
  Tensor up = linear(x, w.up_proj, act);        // [T, inter]
  silu_mul(gate, up, gate);                     // [T, inter]
  return linear(gate, w.down_proj, out_dtype);  // [T, hidden]
}

}  // namespace mlaserve::ops
