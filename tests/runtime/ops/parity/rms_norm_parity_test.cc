// rms_norm on every backend against the CPU: every dtype combination of x / weight / out, a row
// length that is not a multiple of the block, strided rows (the c_kv slice of kv_a's output) and
// in place.
#include "runtime/ops/rms_norm.h"
#include "tests/runtime/ops/parity/op_parity.h"

namespace mlaserve::ops::testing {
namespace {

TEST_P(OpParity, RmsNorm) {
  for (DType x_dtype : {DType::kF32, DType::kBF16})
    for (DType w_dtype : {DType::kF32, DType::kBF16})
      for (DType out_dtype : {DType::kF32, DType::kBF16}) {
        const Tensor x = random_tensor({5, 1000}, x_dtype, 1, -3, 3);
        const Tensor w = random_tensor({1000}, w_dtype, 2, 0.5, 1.5);
        auto [want, got] = run({x, w}, [&](const std::vector<Tensor>& in) {
          Tensor out = Tensor::empty({5, 1000}, out_dtype, in[0].device());
          rms_norm(in[0], in[1], 1e-6, out);
          return std::vector<Tensor>{out};
        });
        expect_close(want[0], got[0], tolerance(out_dtype),
                     str_cat("x ", dtype_name(x_dtype), " w ", dtype_name(w_dtype), " out ",
                             dtype_name(out_dtype)));
      }
}

TEST_P(OpParity, RmsNormStridedRowsInPlace) {
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const Tensor kv = random_tensor({7, 64 + 16}, dtype, 3, -2, 2);  // [T, kv_lora + rope]
    const Tensor w = random_tensor({64}, DType::kBF16, 4, 0.5, 1.5);
    auto [want, got] = run({kv, w}, [&](const std::vector<Tensor>& in) {
      Tensor all = in[0].device().is_cpu() ? in[0].clone() : in[0];  // in[0] is a fresh copy on the device
      Tensor c_kv = all.slice(1, 0, 64);
      rms_norm(c_kv, in[1], 1e-6, c_kv);
      return std::vector<Tensor>{all};
    });
    expect_close(want[0], got[0], tolerance(dtype), str_cat("in place, ", dtype_name(dtype)));
  }
}

}  // namespace
}  // namespace mlaserve::ops::testing
