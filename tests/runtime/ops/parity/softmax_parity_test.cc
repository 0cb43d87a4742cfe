// softmax_rows on every backend against the CPU: MoE-gate rows (160 experts), long rows (a
// vocabulary shard), a fully -inf row (all zeros, no NaN) and a partly masked one, strided rows
// and in place. The CPU's exp is a polynomial, the device's expf correctly rounded: f32
// tolerance.
#include <cmath>

#include "runtime/ops/softmax.h"
#include "tests/runtime/ops/parity/op_parity.h"
#include "tests/runtime/ops/parity/parity_inputs.h"

namespace mlaserve::ops::testing {
namespace {

// [rows, cols] f32 in [-6, 6] with row 1 fully -inf and every 3rd entry of row 2 -inf.
Tensor logits(int64_t rows, int64_t cols, uint32_t seed) {
  Tensor x = random_tensor({rows, cols}, DType::kF32, seed, -6, 6);
  float* p = x.data<float>();
  for (int64_t c = 0; c < cols; ++c) {
    p[1 * cols + c] = -INFINITY;
    if (c % 3 == 0) p[2 * cols + c] = -INFINITY;
  }
  return x;
}

TEST_P(OpParity, SoftmaxRows) {
  for (int64_t cols : {160, 3001}) {
    const Tensor x = logits(6, cols, 1);
    auto [want, got] = run({x}, [&](const std::vector<Tensor>& in) {
      Tensor out = Tensor::empty({6, cols}, DType::kF32, in[0].device());
      softmax_rows(in[0], out);
      Tensor in_place = fresh(in[0]);
      softmax_rows(in_place, in_place);
      return std::vector<Tensor>{out, in_place};
    });
    expect_close(want[0], got[0], tolerance(DType::kF32), str_cat(cols, " columns"));
    expect_close(want[1], got[1], tolerance(DType::kF32), str_cat(cols, " columns in place"));
    const std::vector<double> g = values(got[0]);
    for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(g[1 * cols + c], 0.0) << "masked row, col " << c;
  }
}

TEST_P(OpParity, SoftmaxStridedRowsInPlace) {
  const Tensor x = logits(5, 200, 2);
  auto [want, got] = run({x}, [&](const std::vector<Tensor>& in) {
    Tensor all = fresh(in[0]);
    const Tensor rows = all.slice(1, 20, 180);  // strided rows; the rest must stay
    softmax_rows(rows, rows);
    return std::vector<Tensor>{all};
  });
  // Compare only finite structure: the untouched columns keep their -inf entries on both sides.
  const std::vector<double> w = values(want[0]), g = values(got[0]);
  ASSERT_EQ(w.size(), g.size());
  for (size_t i = 0; i < w.size(); ++i) {
    if (std::isinf(w[i])) {
      ASSERT_EQ(w[i], g[i]) << "element " << i;
      continue;
    }
    ASSERT_NEAR(w[i], g[i], 1e-6 + 1e-5 * std::abs(w[i])) << "element " << i;
  }
}

}  // namespace
}  // namespace mlaserve::ops::testing
