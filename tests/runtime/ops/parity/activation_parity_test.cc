// silu_mul on every backend against the CPU: every gate / up / out dtype, rows longer than one
// column chunk, and the MLP's fused layout — gate and up the two halves of one [m, 2I] buffer,
// out written over gate in place. The CPU's exp is a polynomial, the device's expf is
// correctly rounded to ~1 ulp: results agree to the f32/bf16 tolerances.
#include "runtime/ops/activation.h"
#include "tests/runtime/ops/parity/op_parity.h"
#include "tests/runtime/ops/parity/parity_inputs.h"

namespace mlaserve::ops::testing {
namespace {

TEST_P(OpParity, SiluMul) {
  for (DType gate_dtype : {DType::kF32, DType::kBF16})
    for (DType up_dtype : {DType::kF32, DType::kBF16})
      for (DType out_dtype : {DType::kF32, DType::kBF16}) {
        const Tensor gate = random_tensor({6, 1500}, gate_dtype, 1, -8, 8);
        const Tensor up = random_tensor({6, 1500}, up_dtype, 2, -2, 2);
        auto [want, got] = run({gate, up}, [&](const std::vector<Tensor>& in) {
          Tensor out = Tensor::empty({6, 1500}, out_dtype, in[0].device());
          silu_mul(in[0], in[1], out);
          return std::vector<Tensor>{out, silu_mul(in[0], in[1])};
        });
        const std::string what = str_cat("gate ", dtype_name(gate_dtype), " up ",
                                         dtype_name(up_dtype), " out ", dtype_name(out_dtype));
        expect_close(want[0], got[0], tolerance(out_dtype), what);
        expect_close(want[1], got[1], tolerance(DType::kF32), what + " (new f32 out)");
      }
}

TEST_P(OpParity, SiluMulOnFusedHalvesInPlace) {
  constexpr int64_t kInter = 1408;  // V2-Lite's moe_intermediate_size
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const Tensor h = random_tensor({5, 2 * kInter}, dtype, 3, -6, 6);  // [m, gate | up]
    auto [want, got] = run({h}, [&](const std::vector<Tensor>& in) {
      Tensor all = fresh(in[0]);
      const Tensor g = all.slice(1, 0, kInter), u = all.slice(1, kInter, 2 * kInter);
      silu_mul(g, u, g);
      return std::vector<Tensor>{all};
    });
    expect_close(want[0], got[0], tolerance(dtype), str_cat("fused in place ", dtype_name(dtype)));
  }
}

}  // namespace
}  // namespace mlaserve::ops::testing
