// gather_rows and scatter_add_rows_ on every backend against the CPU: gathers of every dtype
// from strided rows with repeated indices, and the MoE combine — repeated destination rows,
// f32 and bf16 sources, strided sources — which must be bit-identical to the CPU's in-order
// sequence of fused multiply-adds, and the same on every run (no atomics).
#include "runtime/ops/elementwise.h"
#include "runtime/ops/gather.h"
#include "tests/runtime/ops/parity/op_parity.h"
#include "tests/runtime/ops/parity/parity_inputs.h"

namespace mlaserve::ops::testing {
namespace {

constexpr int64_t kTokens = 12, kCols = 1500, kPad = 24;
const std::vector<int64_t> kRows = {3, 0, 11, 3, 3, 7, 0, 5, 11, 2, 3, 9, 9};

Tensor int_tensor(DType dtype, int64_t rows, int64_t cols) {
  std::vector<int64_t> v(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<int64_t>(i * 2654435761u % 100000) - 50000;
  return index_tensor(v, dtype).view({rows, cols});
}

TEST_P(OpParity, GatherRowsEveryDtype) {
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kI32, DType::kI64}) {
    const Tensor x = dtype == DType::kI32 || dtype == DType::kI64
                         ? int_tensor(dtype, kTokens, kCols + kPad)
                         : random_tensor({kTokens, kCols + kPad}, dtype, 1);
    auto [want, got] = run({x}, [&](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{gather_rows(in[0].slice(1, kPad, kPad + kCols), kRows),
                                 gather_rows(in[0], {}), gather_rows(in[0], {kTokens - 1})};
    });
    expect_equal(want[0], got[0], str_cat("strided gather, ", dtype_name(dtype)));
    expect_equal(want[1], got[1], str_cat("empty gather, ", dtype_name(dtype)));
    expect_equal(want[2], got[2], str_cat("one row, ", dtype_name(dtype)));
  }
}

TEST_P(OpParity, GatherRowsRefusesBadIndicesBeforeRunning) {
  const Tensor x = to_device(random_tensor({kTokens, 8}, DType::kF32, 2), device());
  EXPECT_THROW(gather_rows(x, {0, kTokens}), Error);
  EXPECT_THROW(gather_rows(x, {-1}), Error);
}

std::vector<float> weights(size_t n) {
  std::vector<float> w(n);
  for (size_t i = 0; i < n; ++i) w[i] = 0.1f + 0.37f * static_cast<float>(i % 7) - 0.8f * (i % 2);
  return w;
}

TEST_P(OpParity, ScatterAddRowsInOrder) {
  const int64_t m = static_cast<int64_t>(kRows.size());
  const std::vector<float> w = weights(kRows.size());
  for (DType src_dtype : {DType::kF32, DType::kBF16}) {
    const Tensor y = random_tensor({kTokens, kCols}, DType::kF32, 3, -2, 2);
    const Tensor src = random_tensor({m, kCols + kPad}, src_dtype, 4, -5, 5);
    auto [want, got] = run({y, src}, [&](const std::vector<Tensor>& in) {
      Tensor contiguous_src = fresh(in[0]), strided_src = fresh(in[0]);
      scatter_add_rows_(contiguous_src, kRows, to_dtype(in[1].slice(1, 0, kCols), src_dtype), w);
      scatter_add_rows_(strided_src, kRows, in[1].slice(1, kPad, kPad + kCols), w);
      return std::vector<Tensor>{contiguous_src, strided_src};
    });
    expect_equal(want[0], got[0], str_cat("scatter-add, src ", dtype_name(src_dtype)));
    expect_equal(want[1], got[1], str_cat("scatter-add, strided src ", dtype_name(src_dtype)));
  }
}

TEST_P(OpParity, ScatterAddRowsIsDeterministic) {
  // Many contributions to few rows: any reordering of the additions would show in the bits.
  std::vector<int64_t> rows;
  for (int i = 0; i < 200; ++i) rows.push_back((i * 7) % 3);
  const std::vector<float> w = weights(rows.size());
  const Tensor src = random_tensor({200, 300}, DType::kF32, 5, -1000, 1000);
  const Tensor y = random_tensor({3, 300}, DType::kF32, 6);
  std::vector<Tensor> runs;
  for (int r = 0; r < 3; ++r) {
    Tensor dy = to_device(y.clone(), device());  // a copy on every device, the CPU too
    scatter_add_rows_(dy, rows, to_device(src, device()), w);
    runs.push_back(to_cpu(dy));
  }
  Tensor cpu = y.clone();
  scatter_add_rows_(cpu, rows, src, w);
  for (const Tensor& t : runs) expect_equal(cpu, t, "device run against the CPU");
  const Tensor one_row = to_device(src.slice(0, 0, 1), device());
  EXPECT_THROW(scatter_add_rows_(to_device(y, device()), {3}, one_row, {1.0f}),
               Error);  // row 3 outside [0, 3)
}

}  // namespace
}  // namespace mlaserve::ops::testing
