#include "runtime/ops/linear.h"

#include <gtest/gtest.h>

#include "runtime/core/error.h"
#include "tests/runtime/ops/test_tensors.h"

namespace mlaserve::ops {
namespace {

using testing::random_tensor;
using testing::values;

std::vector<double> reference(const Tensor& x, const Tensor& w) {
  const auto xv = values(x), wv = values(w);
  const int64_t k = w.dim(1), n = w.dim(0), m = x.numel() / k;
  std::vector<double> y(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t t = 0; t < k; ++t) s += xv[i * k + t] * wv[j * k + t];
      y[i * n + j] = s;
    }
  return y;
}

void expect_matches(const Tensor& y, const std::vector<double>& ref, double tol) {
  const auto got = values(y);
  ASSERT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], ref[i], tol * (1 + std::abs(ref[i]))) << "element " << i;
}

struct Case {
  int64_t m;
  DType x, w, y;
};

class LinearOp : public ::testing::TestWithParam<Case> {};

// Every kernel path (m = 1 GEMV, small m, sgemm panels) x dtype combination, on odd sizes.
TEST_P(LinearOp, MatchesReferenceAndIsThreadCountIndependent) {
  const Case c = GetParam();
  const int64_t n = 131, k = 77;
  const Tensor x = random_tensor({c.m, k}, c.x, 1);
  const Tensor w = random_tensor({n, k}, c.w, 2);
  auto [one, two] = testing::with_1_and_2_threads([&] { return linear(x, w, c.y); });
  EXPECT_EQ(one.shape(), (Shape{c.m, n}));
  EXPECT_EQ(one.dtype(), c.y);
  expect_matches(one, reference(x, w), c.y == DType::kBF16 ? 8e-3 : 2e-5);
  EXPECT_TRUE(testing::same_bits(one, two));
}

std::vector<Case> cases() {
  std::vector<Case> v;
  for (int64_t m : {1, 3, 8, 17, 45, 70})
    for (DType x : {DType::kF32, DType::kBF16})
      for (DType w : {DType::kBF16, DType::kF32})
        for (DType y : {DType::kF32, DType::kBF16}) v.push_back({m, x, w, y});
  return v;
}
INSTANTIATE_TEST_SUITE_P(Paths, LinearOp, ::testing::ValuesIn(cases()));

TEST(LinearOp, LeadingDimsAndRowSlices) {
  const Tensor w = random_tensor({9, 13}, DType::kBF16, 3);
  const Tensor x3 = random_tensor({2, 3, 13}, DType::kF32, 4);
  const Tensor y3 = linear(x3, w);
  EXPECT_EQ(y3.shape(), (Shape{2, 3, 9}));
  expect_matches(y3, reference(x3, w), 2e-5);

  // x = columns [5, 18) of a wider buffer; y written into columns [2, 11) of another.
  const Tensor big = random_tensor({4, 20}, DType::kF32, 5);
  const Tensor x = big.slice(1, 5, 18);
  Tensor ybuf = Tensor::zeros({4, 12}, DType::kF32);
  linear(x, w, ybuf.slice(1, 2, 11));
  expect_matches(ybuf.slice(1, 2, 11), reference(x, w), 2e-5);
  const auto all = values(ybuf);
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(all[i * 12 + 0], 0.0);
    EXPECT_EQ(all[i * 12 + 11], 0.0);
  }
}

TEST(LinearOp, ContractViolationsThrow) {
  const Tensor w = random_tensor({9, 13}, DType::kBF16, 3);
  const Tensor x = random_tensor({2, 13}, DType::kF32, 4);
  EXPECT_THROW(linear(random_tensor({2, 12}, DType::kF32, 1), w), Error);  // k mismatch
  EXPECT_THROW(linear(x, w, Tensor::empty({2, 8}, DType::kF32)), Error);   // n mismatch
  EXPECT_THROW(linear(x, w, Tensor::empty({3, 9}, DType::kF32)), Error);   // m mismatch
  EXPECT_THROW(linear(x, w, Tensor::empty({2, 9}, DType::kI32)), Error);   // y dtype
  EXPECT_THROW(linear(x, w.slice(1, 0, 12)), Error);                       // w not contiguous
  const Tensor wt = Tensor::empty({13, 9}, DType::kBF16);
  EXPECT_THROW(linear(random_tensor({2, 2, 9}, DType::kF32, 1).slice(1, 0, 1), wt), Error);
  try {
    linear(x, Tensor::empty({9, 13}, DType::kI32));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("linear: w [9, 13] i32 cpu"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace mlaserve::ops
