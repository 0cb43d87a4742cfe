// The sampling ops' contract on the CPU: shapes, dtypes and device of the outputs, rows that are
// strided or picked, errors naming the op and the field. The rule itself is checked in
// tests/kernels/cpu/philox_test.cc and tests/runtime/engine/sampler_test.cc, and the CUDA branch
// against this one in parity/sampling_parity_test.cc.
#include "runtime/ops/sampling.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "tests/runtime/ops/test_tensors.h"

namespace mlaserve::ops {
namespace {

using ::testing::HasSubstr;
using testing::random_tensor;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  return "no error";
}

std::vector<int32_t> ints(const Tensor& t) {
  const int32_t* p = t.data<int32_t>();
  return std::vector<int32_t>(p, p + t.numel());
}

std::vector<SamplingRow> mixed_rows(int64_t n) {
  std::vector<SamplingRow> rows;
  for (int64_t i = 0; i < n; ++i)
    rows.push_back(i % 3 == 0 ? SamplingRow{} : SamplingRow{0.8, i % 2 ? 0 : 20, 0.9, 77, i});
  return rows;
}

TEST(SamplingOps, TokensAreI32OnTheLogitsDeviceAndThreadCountFree) {
  const Tensor logits = random_tensor({9, 500}, DType::kF32, 1, -4, 4);
  auto [one, two] =
      testing::with_1_and_2_threads([&] { return sample_tokens(logits, mixed_rows(9)); });
  EXPECT_EQ(one.shape(), Shape({9}));
  EXPECT_EQ(one.dtype(), DType::kI32);
  EXPECT_TRUE(one.device().is_cpu());
  EXPECT_EQ(ints(one), ints(two));
  for (int32_t t : ints(one)) EXPECT_TRUE(t >= 0 && t < 500) << t;
  EXPECT_EQ(sample_tokens(Tensor::empty({0, 500}, DType::kF32), {}).shape(), Shape({0}));
}

TEST(SamplingOps, GreedyRowsAreArgmaxWithTiesToTheLowerId) {
  Tensor logits = Tensor::from_floats({2, 4}, {1, 5, 5, 2, -1, -1, -3, -1});
  EXPECT_EQ(ints(sample_tokens(logits, {SamplingRow{}, SamplingRow{}})),
            (std::vector<int32_t>{1, 0}));
}

TEST(SamplingOps, StridedRowsSampleLikeTheirContiguousCopy) {
  const Tensor wide = random_tensor({6, 700}, DType::kF32, 2, -3, 3);
  const Tensor view = wide.slice(1, 50, 650);  // [6, 600], rows 700 apart
  EXPECT_EQ(ints(sample_tokens(view, mixed_rows(6))),
            ints(sample_tokens(view.contiguous(), mixed_rows(6))));
  const TopLogprobs a = top_logprobs(view, 4), b = top_logprobs(view.contiguous(), 4);
  EXPECT_EQ(ints(a.ids), ints(b.ids));
  EXPECT_TRUE(testing::same_bits(a.logprobs, b.logprobs));
}

TEST(SamplingOps, TopLogprobsOfPickedRowsInTheirOrder) {
  const Tensor logits = random_tensor({5, 300}, DType::kF32, 3, -2, 2);
  const TopLogprobs all = top_logprobs(logits, 6);
  const TopLogprobs picked = top_logprobs(logits, 6, {4, 1});
  EXPECT_EQ(all.ids.shape(), Shape({5, 6}));
  EXPECT_EQ(all.logprobs.dtype(), DType::kF32);
  ASSERT_EQ(picked.ids.shape(), Shape({2, 6}));
  const auto a = ints(all.ids), p = ints(picked.ids);
  EXPECT_EQ(std::vector<int32_t>(p.begin(), p.begin() + 6),
            std::vector<int32_t>(a.begin() + 24, a.end()));
  EXPECT_EQ(std::vector<int32_t>(p.begin() + 6, p.end()),
            std::vector<int32_t>(a.begin() + 6, a.begin() + 12));
  EXPECT_EQ(top_logprobs(logits, 1000).ids.shape(), Shape({5, 300}));  // k beyond the vocabulary
  EXPECT_EQ(top_logprobs(logits, 3, {}).ids.shape(), Shape({0, 3}));
}

TEST(SamplingOps, ErrorsNameTheOpAndTheField) {
  const Tensor logits = random_tensor({2, 10}, DType::kF32, 4);
  EXPECT_THAT(error_of([&] { sample_tokens(logits, {SamplingRow{}}); }),
              HasSubstr("sample_tokens: 1 sampling rows for logits [2, 10]"));
  EXPECT_THAT(error_of([&] {
                sample_tokens(random_tensor({2, 10}, DType::kBF16, 4), mixed_rows(2));
              }),
              HasSubstr("must be [rows, vocab] f32"));
  EXPECT_THAT(error_of([&] { sample_tokens(random_tensor({10}, DType::kF32, 4), mixed_rows(1)); }),
              HasSubstr("sample_tokens: logits [10] f32"));
  EXPECT_THAT(error_of([&] {
                sample_tokens(logits, {SamplingRow{}, SamplingRow{-1.0}});
              }),
              HasSubstr("rows[1].temperature"));
  EXPECT_THAT(error_of([&] {
                sample_tokens(logits, {SamplingRow{}, SamplingRow{1.0, -1}});
              }),
              HasSubstr("rows[1].top_k"));
  EXPECT_THAT(error_of([&] {
                sample_tokens(logits, {SamplingRow{1.0, 0, 0.0}, SamplingRow{}});
              }),
              HasSubstr("rows[0].top_p"));
  EXPECT_THAT(error_of([&] {
                sample_tokens(logits, {SamplingRow{1.0, 0, 1.0, 0, -1}, SamplingRow{}});
              }),
              HasSubstr("rows[0].position"));
  EXPECT_THAT(error_of([&] { top_logprobs(logits, 0); }),
              HasSubstr("top_logprobs: k must be >= 1"));
  EXPECT_THAT(error_of([&] {
                top_logprobs(logits, 2, {0, 2});
              }),
              HasSubstr("top_logprobs: rows[1] = 2 is outside logits"));
  EXPECT_THAT(error_of([&] {
                top_logprobs(Tensor::empty({2, 0}, DType::kF32), 2);
              }),
              HasSubstr("1 .. 2^31 - 1 columns"));
}

}  // namespace
}  // namespace mlaserve::ops
