#include <gtest/gtest.h>

#include <cmath>

#include "runtime/core/error.h"
#include "runtime/ops/activation.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/embedding.h"
#include "runtime/ops/rms_norm.h"
#include "runtime/ops/softmax.h"
#include "tests/runtime/ops/test_tensors.h"

namespace mlaserve::ops {
namespace {

using testing::random_tensor;
using testing::values;

double tol_for(DType d) { return d == DType::kBF16 ? 8e-3 : 2e-6; }

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << "element " << i;
}

class VectorOps : public ::testing::TestWithParam<DType> {};

TEST_P(VectorOps, RmsNorm) {
  const DType dt = GetParam();
  for (DType wd : {DType::kF32, DType::kBF16}) {
    const Tensor x = random_tensor({5, 3, 37}, dt, 1, -3, 3);
    const Tensor w = random_tensor({37}, wd, 2, 0.5, 1.5);
    auto [one, two] = testing::with_1_and_2_threads([&] { return rms_norm(x, w, 1e-6); });
    EXPECT_EQ(one.dtype(), dt);
    EXPECT_TRUE(testing::same_bits(one, two));
    const auto xv = values(x), wv = values(w);
    std::vector<double> want(xv.size());
    for (size_t r = 0; r < 15; ++r) {
      double ss = 0;
      for (int j = 0; j < 37; ++j) ss += xv[r * 37 + j] * xv[r * 37 + j];
      const double inv = 1 / std::sqrt(ss / 37 + 1e-6);
      for (int j = 0; j < 37; ++j) want[r * 37 + j] = xv[r * 37 + j] * inv * wv[j];
    }
    expect_near_all(values(one), want, tol_for(dt));
  }
  // In place on a strided slice: the c_kv part of a [T, kv_lora + rope] buffer.
  const Tensor buf = random_tensor({3, 29}, dt, 3);
  const auto before = values(buf);
  const Tensor ckv = buf.slice(1, 0, 21);
  const Tensor expect = rms_norm(ckv.contiguous(), random_tensor({21}, DType::kBF16, 4), 1e-6);
  rms_norm(ckv, random_tensor({21}, DType::kBF16, 4), 1e-6, ckv);
  EXPECT_TRUE(testing::same_bits(ckv, expect));
  const auto after = values(buf);
  for (int r = 0; r < 3; ++r)
    for (int j = 21; j < 29; ++j) EXPECT_EQ(after[r * 29 + j], before[r * 29 + j]);
}

TEST_P(VectorOps, SiluMulOnFusedHalves) {
  const DType dt = GetParam();
  const Tensor h = random_tensor({7, 2 * 45}, dt, 5, -8, 8);  // [gate | up]
  const Tensor gate = h.slice(1, 0, 45), up = h.slice(1, 45, 90);
  Tensor out = Tensor::empty({7, 45}, dt);
  silu_mul(gate, up, out);
  const auto hv = values(h);
  std::vector<double> want(7 * 45);
  for (int r = 0; r < 7; ++r)
    for (int j = 0; j < 45; ++j) {
      const double g = hv[r * 90 + j], u = hv[r * 90 + 45 + j];
      want[r * 45 + j] = g / (1 + std::exp(-g)) * u;
    }
  expect_near_all(values(out), want, tol_for(dt));
  EXPECT_THROW(silu_mul(gate, h.slice(1, 0, 44), out), Error);
}

TEST_P(VectorOps, AddScaleCopy) {
  const DType dt = GetParam();
  const Tensor x = random_tensor({4, 19}, dt, 6);
  Tensor y = random_tensor({4, 19}, dt, 7);
  const auto xv = values(x), yv = values(y);
  add_(y, x);
  std::vector<double> want(yv.size());
  for (size_t i = 0; i < want.size(); ++i) want[i] = yv[i] + xv[i];
  expect_near_all(values(y), want, tol_for(dt));
  const auto y1 = values(y);
  add_scaled_(y, x, -0.25);
  for (size_t i = 0; i < want.size(); ++i) want[i] = y1[i] - 0.25 * xv[i];
  expect_near_all(values(y), want, tol_for(dt));
  const auto y2 = values(y);
  scale_(y, 3.0);
  for (size_t i = 0; i < want.size(); ++i) want[i] = 3 * y2[i];
  expect_near_all(values(y), want, tol_for(dt));

  const Tensor other = to_dtype(x, dt == DType::kF32 ? DType::kBF16 : DType::kF32);
  const Tensor back = to_dtype(other, dt);
  expect_near_all(values(back), xv, tol_for(DType::kBF16));
  EXPECT_THROW(add_(y, random_tensor({4, 18}, dt, 1)), Error);
  EXPECT_THROW(copy_(Tensor::empty({4, 19}, DType::kI32), x), Error);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, VectorOps, ::testing::Values(DType::kF32, DType::kBF16));

TEST(SoftmaxRows, MatchesReferenceInPlace) {
  Tensor x = random_tensor({6, 41}, DType::kF32, 8, -10, 10);
  const auto xv = values(x);
  softmax_rows(x, x);
  std::vector<double> want(xv.size());
  for (int r = 0; r < 6; ++r) {
    double mx = -1e300, s = 0;
    for (int j = 0; j < 41; ++j) mx = std::max(mx, xv[r * 41 + j]);
    for (int j = 0; j < 41; ++j) s += std::exp(xv[r * 41 + j] - mx);
    for (int j = 0; j < 41; ++j) want[r * 41 + j] = std::exp(xv[r * 41 + j] - mx) / s;
  }
  expect_near_all(values(x), want, 2e-6);
  EXPECT_THROW(softmax_rows(random_tensor({2, 3}, DType::kBF16, 1), x), Error);
}

TEST(Embedding, GathersAndShards) {
  const Tensor table = random_tensor({11, 23}, DType::kBF16, 9);
  const Tensor ids = Tensor::empty({4}, DType::kI32);
  int32_t* ip = ids.data<int32_t>();
  ip[0] = 3; ip[1] = 10; ip[2] = 0; ip[3] = 3;
  for (DType out : {DType::kF32, DType::kBF16}) {
    const Tensor e = embedding(ids, table, out);
    const auto tv = values(table), ev = values(e);
    for (int t = 0; t < 4; ++t)
      for (int d = 0; d < 23; ++d) ASSERT_EQ(ev[t * 23 + d], tv[ip[t] * 23 + d]);
  }
  EXPECT_THROW(embedding(ids, table.slice(0, 0, 10)), Error);  // id 10 out of range
  // Shard owning vocabulary rows [5, 16): ids 3 and 0 belong to another shard.
  const Tensor shard = embedding(ids, table, DType::kF32, 5, /*zero_outside_shard=*/true);
  const auto sv = values(shard), tv = values(table);
  for (int d = 0; d < 23; ++d) {
    EXPECT_EQ(sv[0 * 23 + d], 0.0);
    EXPECT_EQ(sv[1 * 23 + d], tv[5 * 23 + d]);
    EXPECT_EQ(sv[2 * 23 + d], 0.0);
  }
  EXPECT_THROW(embedding(Tensor::empty({4}, DType::kF32), table), Error);
}

}  // namespace
}  // namespace mlaserve::ops
