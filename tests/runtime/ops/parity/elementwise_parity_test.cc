// add_, add_scaled_, scale_, copy_ and to_dtype on every backend against the CPU: every dtype
// pair, rows longer than one column chunk, strided rows (slices of a wider buffer), and strided
// sources. These ops round once per element the same way on both sides (add and multiply
// unfused, axpy one FMA), so results are bit-identical.
#include "runtime/ops/elementwise.h"
#include "tests/runtime/ops/parity/op_parity.h"
#include "tests/runtime/ops/parity/parity_inputs.h"

namespace mlaserve::ops::testing {
namespace {

constexpr int64_t kRows = 5, kCols = 1500, kPad = 40;

TEST_P(OpParity, AddAddScaledScale) {
  for (DType y_dtype : {DType::kF32, DType::kBF16})
    for (DType x_dtype : {DType::kF32, DType::kBF16}) {
      const Tensor y = random_tensor({kRows, kCols}, y_dtype, 1, -3, 3);
      const Tensor x = random_tensor({kRows, kCols}, x_dtype, 2, -3, 3);
      auto [want, got] = run({y, x}, [&](const std::vector<Tensor>& in) {
        Tensor a = fresh(in[0]), b = fresh(in[0]), c = fresh(in[0]);
        add_(a, in[1]);
        add_scaled_(b, in[1], -0.37);
        scale_(c, 1.7);
        return std::vector<Tensor>{a, b, c};
      });
      const std::string what = str_cat("y ", dtype_name(y_dtype), " x ", dtype_name(x_dtype));
      expect_equal(want[0], got[0], "add_, " + what);
      expect_equal(want[1], got[1], "add_scaled_, " + what);
      expect_equal(want[2], got[2], "scale_, " + what);
    }
}

TEST_P(OpParity, UpdatesOnStridedRows) {
  // y and x are the left parts of wider buffers (e.g. a residual slice); the padding must stay.
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const Tensor y = random_tensor({kRows, kCols + kPad}, dtype, 3);
    const Tensor x = random_tensor({kRows, kCols + 2 * kPad}, DType::kF32, 4);
    auto [want, got] = run({y, x}, [&](const std::vector<Tensor>& in) {
      Tensor a = fresh(in[0]);
      const Tensor xs = in[1].slice(1, kPad, kPad + kCols);
      add_(a.slice(1, 0, kCols), xs);
      add_scaled_(a.slice(1, 0, kCols), xs, 0.25);
      scale_(a.slice(1, 0, kCols), -2.0);
      return std::vector<Tensor>{a};
    });
    expect_equal(want[0], got[0], str_cat("strided ", dtype_name(dtype)));
  }
}

TEST_P(OpParity, CopyAndToDtype) {
  for (DType src_dtype : {DType::kF32, DType::kBF16})
    for (DType dst_dtype : {DType::kF32, DType::kBF16}) {
      const Tensor src = random_tensor({kRows, kCols + kPad}, src_dtype, 5, -100, 100);
      auto [want, got] = run({src}, [&](const std::vector<Tensor>& in) {
        const Tensor s = in[0].slice(1, kPad, kPad + kCols);  // a strided source
        Tensor dst = zeros_on(in[0].device(), {kRows, kCols + kPad}, dst_dtype);
        copy_(dst.slice(1, 0, kCols), s);                     // a strided destination
        return std::vector<Tensor>{dst, to_dtype(s, dst_dtype), to_dtype(in[0], dst_dtype)};
      });
      const std::string what = str_cat(dtype_name(src_dtype), " -> ", dtype_name(dst_dtype));
      expect_equal(want[0], got[0], "copy_ " + what);
      expect_equal(want[1], got[1], "to_dtype of a strided source " + what);
      expect_equal(want[2], got[2], "to_dtype " + what);
    }
}

TEST_P(OpParity, CopyOfIntegersAndInPlace) {
  const Tensor ids = index_tensor({5, -7, 1 << 30, 0, 3, 9}, DType::kI64).view({2, 3});
  auto [want, got] = run({ids}, [&](const std::vector<Tensor>& in) {
    Tensor dst = zeros_on(in[0].device(), {2, 3}, DType::kI64);
    copy_(dst, in[0]);
    Tensor same = fresh(in[0]);
    copy_(same, same);  // a no-op, not an overlapping copy
    return std::vector<Tensor>{dst, same};
  });
  expect_equal(want[0], got[0], "i64 copy");
  expect_equal(want[1], got[1], "copy onto itself");
}

TEST_P(OpParity, CopyBetweenDevicesIsRefused) {
  const Tensor cpu = random_tensor({2, 8}, DType::kF32, 6);
  const Tensor dev = to_device(cpu, device());
  EXPECT_THROW(copy_(dev, cpu), Error);  // to_device's job
  EXPECT_THROW(add_(dev, cpu), Error);
  EXPECT_EQ(to_dtype(dev, DType::kBF16).device(), device());
}

}  // namespace
}  // namespace mlaserve::ops::testing
