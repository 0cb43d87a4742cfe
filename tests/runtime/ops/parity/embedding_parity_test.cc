// embedding on every backend against the CPU: every table / out / ids dtype, a row length that
// spans several column chunks, strided out rows, and vocabulary-parallel shards whose sum is the
// full lookup. Results are exact copies (bf16 -> f32 exact, f32 -> bf16 rounded the same way).
#include "runtime/ops/elementwise.h"
#include "runtime/ops/embedding.h"
#include "tests/runtime/ops/parity/op_parity.h"
#include "tests/runtime/ops/parity/parity_inputs.h"

namespace mlaserve::ops::testing {
namespace {

constexpr int64_t kRows = 50, kDim = 1500;
const std::vector<int64_t> kIds = {0, 49, 7, 7, 23, 1, 48, 30, 0};

TEST_P(OpParity, Embedding) {
  for (DType table_dtype : {DType::kF32, DType::kBF16})
    for (DType out_dtype : {DType::kF32, DType::kBF16})
      for (DType ids_dtype : {DType::kI32, DType::kI64}) {
        const Tensor table = random_tensor({kRows, kDim}, table_dtype, 1, -2, 2);
        const Tensor ids = index_tensor(kIds, ids_dtype);
        auto [want, got] = run({ids, table}, [&](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{embedding(in[0], in[1], out_dtype)};
        });
        expect_equal(want[0], got[0],
                     str_cat("table ", dtype_name(table_dtype), " out ", dtype_name(out_dtype),
                             " ids ", dtype_name(ids_dtype)));
      }
}

TEST_P(OpParity, EmbeddingIntoStridedRows) {
  for (DType out_dtype : {DType::kF32, DType::kBF16}) {
    const Tensor table = random_tensor({kRows, kDim}, DType::kBF16, 2);
    const Tensor ids = index_tensor(kIds, DType::kI64);
    auto [want, got] = run({ids, table}, [&](const std::vector<Tensor>& in) {
      // The lookup lands in the first kDim columns of a wider buffer; the rest stays zero.
      Tensor all = zeros_on(in[0].device(), {static_cast<int64_t>(kIds.size()), kDim + 24},
                            out_dtype);
      embedding(in[0], in[1], all.slice(1, 0, kDim));
      return std::vector<Tensor>{all};
    });
    expect_equal(want[0], got[0], str_cat("strided out ", dtype_name(out_dtype)));
  }
}

TEST_P(OpParity, EmbeddingVocabularyShardsSumToTheWholeLookup) {
  // A vocabulary of 100 rows in two shards of 50: each shard zeroes the ids it does not own.
  const Tensor full = random_tensor({100, kDim}, DType::kBF16, 3);
  const Tensor ids = index_tensor({0, 99, 50, 49, 51, 12, 77}, DType::kI32);
  for (DType out_dtype : {DType::kF32, DType::kBF16}) {
    auto [want, got] = run({ids, full}, [&](const std::vector<Tensor>& in) {
      const Tensor lo = embedding(in[0], in[1].slice(0, 0, 50), out_dtype, 0, true);
      const Tensor hi = embedding(in[0], in[1].slice(0, 50, 100), out_dtype, 50, true);
      const Tensor sum = to_dtype(lo, DType::kF32);
      add_(sum, hi);  // what the all-reduce over the shards does
      return std::vector<Tensor>{lo, hi, sum, embedding(in[0], in[1], DType::kF32)};
    });
    for (int i = 0; i < 3; ++i)
      expect_equal(want[i], got[i], str_cat("shard output ", i, ", ", dtype_name(out_dtype)));
    if (out_dtype == DType::kF32) expect_equal(got[3], got[2], "shards sum to the full lookup");
  }
}

// Device-only contract (embedding.h): ids are not validated on a GPU, and an id outside the
// table gives a zero row instead of reading out of bounds. (The CPU throws kOutOfRange.)
TEST_P(OpParity, EmbeddingIdsOutsideTheTableGiveZeroRowsOnTheDevice) {
  const Tensor table = random_tensor({kRows, kDim}, DType::kBF16, 4);
  const Tensor ids = index_tensor({3, -1, kRows, 1000000, 4}, DType::kI64);
  EXPECT_THROW(embedding(ids, table), Error);
  const Tensor got = to_cpu(embedding(to_device(ids, device()), to_device(table, device())));
  const Tensor in_range = embedding(index_tensor({3, 0, 0, 0, 4}, DType::kI64), table);
  const std::vector<double> g = values(got), w = values(in_range);
  for (int64_t t = 0; t < 5; ++t)
    for (int64_t c = 0; c < kDim; ++c) {
      const bool outside = t >= 1 && t <= 3;
      ASSERT_EQ(g[t * kDim + c], outside ? 0.0 : w[t * kDim + c]) << "token " << t << " col " << c;
    }
}

TEST_P(OpParity, EmbeddingRefusesMixedDevices) {
  const Tensor table = to_device(random_tensor({kRows, 8}, DType::kBF16, 5), device());
  EXPECT_THROW(embedding(index_tensor({1}, DType::kI64), table), Error);  // ids on the CPU
}

}  // namespace
}  // namespace mlaserve::ops::testing
