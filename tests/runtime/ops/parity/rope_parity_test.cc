// apply_rope on every backend against the CPU, with tiny-v2's YaRN table (original length 64)
// and positions far beyond 64: q's rope slice [T, H, nope | rope] (rank-3 strided, 128 heads so
// a token's pairs span several column chunks), the k_pe slice of kv_a's output [T, kv_lora |
// rope] (rank-2 strided) and a contiguous [T, rope]; f32 and bf16; i32 and i64 positions.
// The device rounds every product and sum like the CPU kernel (no FMA contraction), so results
// are bit-identical.
#include "runtime/ops/rope.h"
#include "tests/runtime/ops/parity/op_parity.h"
#include "tests/runtime/ops/parity/parity_inputs.h"

namespace mlaserve::ops::testing {
namespace {

constexpr int64_t kRope = 64, kNope = 128, kHeads = 128, kKvLora = 512;
const std::vector<int64_t> kPositions = {0, 1, 63, 64, 65, 1000, 4095};

RopeTable yarn_table() {
  // tiny-v2's rope_scaling with DeepSeek-V2's rope dim, and a non-trivial mscale ratio.
  const RopeOptions o{.dim = kRope, .base = 10000, .yarn = true, .factor = 40,
                      .original_max_positions = 64, .beta_fast = 32, .beta_slow = 1,
                      .mscale = 1.3};
  return make_rope_table(o, 4096);
}

// The table where `like` lives (uploaded once per call here; the model uploads it once).
RopeTable table_on(const RopeTable& table, const Tensor& like) {
  return like.device().is_cpu() ? table : to_device(table, like.device());
}

TEST_P(OpParity, RopeOnTheRopeSliceOfQ) {
  const RopeTable table = yarn_table();
  const int64_t T = static_cast<int64_t>(kPositions.size());
  for (DType dtype : {DType::kF32, DType::kBF16})
    for (DType pos_dtype : {DType::kI32, DType::kI64}) {
      const Tensor q = random_tensor({T, kHeads, kNope + kRope}, dtype, 1, -2, 2);
      auto [want, got] = run({q, index_tensor(kPositions, pos_dtype)},
                             [&](const std::vector<Tensor>& in) {
                               Tensor all = fresh(in[0]);
                               apply_rope(all.slice(2, kNope, kNope + kRope), in[1],
                                          table_on(table, in[0]));
                               return std::vector<Tensor>{all};
                             });
      expect_equal(want[0], got[0],
                   str_cat("q ", dtype_name(dtype), " positions ", dtype_name(pos_dtype)));
    }
}

TEST_P(OpParity, RopeOnKPeAndContiguousRows) {
  const RopeTable table = yarn_table();
  const int64_t T = static_cast<int64_t>(kPositions.size());
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const Tensor kv = random_tensor({T, kKvLora + kRope}, dtype, 2, -2, 2);
    const Tensor k = random_tensor({T, kRope}, dtype, 3, -2, 2);
    auto [want, got] = run({kv, k, index_tensor(kPositions, DType::kI64)},
                           [&](const std::vector<Tensor>& in) {
                             Tensor all = fresh(in[0]), contiguous = fresh(in[1]);
                             const RopeTable t = table_on(table, in[0]);
                             apply_rope(all.slice(1, kKvLora, kKvLora + kRope), in[2], t);
                             apply_rope(contiguous, in[2], t);
                             return std::vector<Tensor>{all, contiguous};
                           });
    expect_equal(want[0], got[0], str_cat("k_pe slice ", dtype_name(dtype)));
    expect_equal(want[1], got[1], str_cat("contiguous ", dtype_name(dtype)));
  }
}

TEST_P(OpParity, RopeTableToDevice) {
  const RopeTable table = yarn_table();
  const RopeTable on_device = to_device(table, device());
  EXPECT_EQ(on_device.rope_dim, table.rope_dim);
  EXPECT_EQ(on_device.max_positions(), table.max_positions());
  EXPECT_EQ(on_device.cos.device(), device());
  expect_equal(table.cos, to_cpu(on_device.cos), "cos");
  expect_equal(table.sin, to_cpu(on_device.sin), "sin");
  // A table on another device than x is refused, naming the table.
  const Tensor x = random_tensor({1, kRope}, DType::kF32, 4);
  EXPECT_THROW(apply_rope(x, index_tensor({0}, DType::kI64), on_device), Error);
}

// Device-only contract (rope.h): positions are not validated on a GPU; a token whose position is
// outside the table is left as it was (the CPU throws kOutOfRange).
TEST_P(OpParity, RopePositionsOutsideTheTableAreLeftUnrotatedOnTheDevice) {
  const RopeTable table = yarn_table();
  const Tensor x = random_tensor({3, kRope}, DType::kF32, 5);
  const Tensor pos = index_tensor({5, 4096, -1}, DType::kI64);
  EXPECT_THROW(apply_rope(x.clone(), pos, table), Error);
  const Tensor dx = to_device(x, device());
  apply_rope(dx, to_device(pos, device()), to_device(table, device()));
  const Tensor got = to_cpu(dx);
  expect_equal(x.slice(0, 1, 3), got.slice(0, 1, 3), "out-of-table tokens unchanged");
  const Tensor want0 = x.slice(0, 0, 1).clone();
  apply_rope(want0, index_tensor({5}, DType::kI64), table);
  expect_equal(want0, got.slice(0, 0, 1), "the in-table token is rotated");
}

}  // namespace
}  // namespace mlaserve::ops::testing
