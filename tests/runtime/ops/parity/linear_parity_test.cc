// linear on every backend against the CPU: every x / w / y dtype, decode and prefill row counts
// (m = 1, 7, 64, 300), n and k off every tile multiple as well as k = 128 and 1536 (q_a's rank),
// strided x and y (row slices of wider buffers, as the model's fused projections produce), and the
// precision of f32 activations against bf16 weights, which CUDA computes by splitting x into two
// bf16 halves (kernels/cuda/linear.h).
#include <vector>

#include "runtime/ops/linear.h"
#include "tests/runtime/ops/parity/op_parity.h"

namespace mlaserve::ops::testing {
namespace {

// The reference metric's bound for f32 activations against bf16 weights (split-precision path);
// the reference cases need 1e-4 per logits row, and the CPU itself lands near 1e-6.
constexpr double kSplitTolerance = 2e-5;

double tolerance_for(DType x, DType w, DType y) {
  if (y == DType::kF32 && x == DType::kF32 && w == DType::kBF16) return kSplitTolerance;
  return tolerance(y);
}

std::string name(int64_t m, int64_t n, int64_t k, DType x, DType w, DType y) {
  return str_cat("m ", m, " n ", n, " k ", k, ", x ", dtype_name(x), " w ", dtype_name(w), " y ",
                 dtype_name(y));
}

struct Shape3 {
  int64_t n, k;
};
// n and k that are multiples of nothing, the smallest head-sized k, and q_a_proj's rank.
constexpr Shape3 kShapes[] = {{37, 77}, {203, 128}, {99, 1536}};

TEST_P(OpParity, Linear) {
  uint32_t seed = 10;
  for (int64_t m : {1, 7, 64, 300})
    for (const Shape3& s : kShapes)
      for (DType x_dtype : {DType::kF32, DType::kBF16})
        for (DType w_dtype : {DType::kBF16, DType::kF32})
          for (DType y_dtype : {DType::kF32, DType::kBF16}) {
            const Tensor x = random_tensor({m, s.k}, x_dtype, ++seed, -2, 2);
            const Tensor w = random_tensor({s.n, s.k}, w_dtype, ++seed, -0.5, 0.5);
            auto [want, got] = run({x, w}, [&](const std::vector<Tensor>& in) {
              Tensor y = Tensor::empty({m, s.n}, y_dtype, in[0].device());
              linear(in[0], in[1], y);
              return std::vector<Tensor>{y};
            });
            expect_close(want[0], got[0], tolerance_for(x_dtype, w_dtype, y_dtype),
                         name(m, s.n, s.k, x_dtype, w_dtype, y_dtype));
          }
}

// x and y are column slices of wider rows (ld > cols, odd offsets); the columns of y's buffer
// outside the slice must stay untouched (zero).
TEST_P(OpParity, LinearStridedRows) {
  constexpr int64_t n = 45, k = 131;
  uint32_t seed = 100;
  for (int64_t m : {1, 7, 300})
    for (DType x_dtype : {DType::kF32, DType::kBF16})
      for (DType w_dtype : {DType::kBF16, DType::kF32})
        for (DType y_dtype : {DType::kF32, DType::kBF16}) {
          const Tensor x_wide = random_tensor({m, k + 13}, x_dtype, ++seed, -2, 2);
          const Tensor w = random_tensor({n, k}, w_dtype, ++seed, -0.5, 0.5);
          auto [want, got] = run({x_wide, w}, [&](const std::vector<Tensor>& in) {
            Tensor y_wide = zeros({m, n + 9}, y_dtype, in[0].device());
            linear(in[0].slice(1, 5, 5 + k), in[1], y_wide.slice(1, 3, 3 + n));
            return std::vector<Tensor>{y_wide};
          });
          expect_close(want[0], got[0], tolerance_for(x_dtype, w_dtype, y_dtype),
                       str_cat("strided, ", name(m, n, k, x_dtype, w_dtype, y_dtype)));
        }
}

// The allocating form: y on the inputs' device, x's leading shape, the requested dtype.
TEST_P(OpParity, LinearAllocatesOnTheInputsDevice) {
  const Tensor x = random_tensor({2, 3, 64}, DType::kBF16, 7, -1, 1);
  const Tensor w = random_tensor({24, 64}, DType::kBF16, 8, -1, 1);
  auto [want, got] = run({x, w}, [&](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{linear(in[0], in[1], DType::kBF16)};
  });
  EXPECT_EQ(got[0].shape(), (Shape{2, 3, 24}));
  expect_close(want[0], got[0], tolerance(DType::kBF16), "[2, 3, 64] x, bf16 y");
}

TEST_P(OpParity, LinearRefusesOperandsOnDifferentDevices) {
  const Tensor x = random_tensor({2, 16}, DType::kF32, 1);
  const Tensor w = random_tensor({8, 16}, DType::kBF16, 2);
  EXPECT_THROW(linear(to_device(x, device()), w), Error);
  EXPECT_THROW(linear(x, to_device(w, device())), Error);
}

// The f32 mode's exactness: activations in f32 against bf16 weights, at the model's widths
// (hidden 5120 as k), with a few large activations as real hidden states have. CUDA must land
// within kSplitTolerance of the CPU in the reference metric.
Tensor activations(int64_t m, int64_t k, uint32_t seed) {
  Tensor x = random_tensor({m, k}, DType::kF32, seed, -3, 3);
  float* p = x.data<float>();
  for (int64_t i = 0; i < m * k; i += 997) p[i] *= 40;  // outlier channels
  return x;
}

TEST_P(OpParity, LinearF32ActivationsKeepF32Precision) {
  for (int64_t m : {1, 33}) {
    const Tensor x = activations(m, 5120, 21);
    const Tensor w = random_tensor({515, 5120}, DType::kBF16, 22, -0.05, 0.05);
    auto [want, got] = run({x, w}, [&](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{linear(in[0], in[1], DType::kF32)};
    });
    const double rel = rel_error(want[0], got[0]);
    EXPECT_LE(rel, kSplitTolerance) << "m " << m << ": f32 activations lost precision";
    RecordProperty(str_cat("rel_error_m", m), std::to_string(rel));
  }
}

// Runs everywhere (CPU only): the precision case above separates the split-precision product
// from the shortcut of rounding x to bf16. Both are emulated with the CPU kernels: y = hi·wᵀ +
// lo·wᵀ must meet the bound, bf16(x)·wᵀ must miss it by far.
TEST(LinearPrecisionCase, SplitMeetsTheBoundAndBf16RoundingDoesNot) {
  const Tensor x = activations(33, 5120, 21);
  const Tensor w = random_tensor({515, 5120}, DType::kBF16, 22, -0.05, 0.05);
  std::vector<float> hi(static_cast<size_t>(x.numel())), lo(hi.size());
  for (size_t i = 0; i < hi.size(); ++i) {
    const float v = x.data<float>()[i];
    hi[i] = bf16_to_float(float_to_bf16(v));
    lo[i] = bf16_to_float(float_to_bf16(v - hi[i]));
  }
  const Tensor want = linear(x, w);
  const Tensor y_hi = linear(Tensor::from_floats(x.shape(), hi), w);
  const Tensor y_lo = linear(Tensor::from_floats(x.shape(), lo), w);
  Tensor y_split = Tensor::empty(want.shape(), DType::kF32);
  for (int64_t i = 0; i < want.numel(); ++i)
    y_split.data<float>()[i] = y_hi.data<float>()[i] + y_lo.data<float>()[i];

  const double split = rel_error(want, y_split), rounded = rel_error(want, y_hi);
  EXPECT_LE(split, kSplitTolerance / 2) << "the split itself should land near 1e-6";
  EXPECT_GT(rounded, 20 * kSplitTolerance) << "rounding x to bf16 should cost ~1e-3";
  RecordProperty("split_rel_error", std::to_string(split));
  RecordProperty("bf16_rounded_rel_error", std::to_string(rounded));
}

}  // namespace
}  // namespace mlaserve::ops::testing
