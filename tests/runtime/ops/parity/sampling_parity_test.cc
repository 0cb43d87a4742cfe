// sample_tokens and top_logprobs on every backend against the CPU. Tokens must be identical, not
// close: the rule (kernels/sampling_math.h) uses only correctly rounded double arithmetic in one
// fixed order and the same Philox uniform on both devices. Logits are quantized so that many are
// equal (the sort must keep the lower id first), vocabularies range from 1 to DeepSeek-V2's
// 102400 (more rows than one sort group holds), rows are mixed greedy / sampled, seeds and
// positions include values beyond 32 bits.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "runtime/ops/sampling.h"
#include "tests/runtime/ops/parity/op_parity.h"

namespace mlaserve::ops::testing {
namespace {

// [rows, vocab] f32 uniform in [lo, hi], rounded to multiples of `step` (0: not rounded).
Tensor quantized_logits(int64_t rows, int64_t vocab, uint32_t seed, float lo, float hi,
                        float step) {
  Tensor t = random_tensor({rows, vocab}, DType::kF32, seed, lo, hi);
  if (step > 0)
    for (int64_t i = 0; i < t.numel(); ++i)
      t.data<float>()[i] = std::round(t.data<float>()[i] / step) * step;
  return t;
}

// The same row repeated `rows` times (many positions of one distribution).
Tensor repeated_row(int64_t rows, int64_t vocab, uint32_t seed) {
  const Tensor one = quantized_logits(1, vocab, seed, -6, 6, 1.0f / 32);
  Tensor t = Tensor::empty({rows, vocab}, DType::kF32);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < vocab; ++j) t.data<float>()[r * vocab + j] = one.data<float>()[j];
  return t;
}

std::vector<SamplingRow> parameter_grid(int64_t vocab) {
  std::vector<SamplingRow> rows;
  const uint64_t seeds[] = {0, 12345, (uint64_t{1} << 63) + 7};
  const int64_t positions[] = {0, 1, 1000000007, int64_t{1} << 40};
  int64_t n = 0;
  for (double t : {0.25, 1.0, 2.5})
    for (int64_t k : {int64_t{0}, int64_t{1}, int64_t{7}, vocab + 5})
      for (double p : {1.0, 0.9, 0.3, 1e-6}) {
        rows.push_back({t, k, p, seeds[n % 3], positions[n % 4]});
        if (++n % 5 == 0) rows.push_back({});  // greedy rows in between
      }
  return rows;
}

Tensor sample(const std::vector<Tensor>& in, const std::vector<SamplingRow>& rows) {
  return sample_tokens(in[0], rows);
}

TEST_P(OpParity, SampleTokensGreedyWithTies) {
  for (int64_t vocab : {int64_t{1}, int64_t{7}, int64_t{102400}}) {
    Tensor logits = quantized_logits(5, vocab, 11, -3, 3, 0);
    // Row r's maximum appears at several ids, the first of them r-dependent (0 for row 0).
    for (int64_t r = 0; r < 5; ++r)
      for (int64_t j = (r * 3) % vocab; j < vocab; j += std::max<int64_t>(vocab / 4, 1))
        logits.data<float>()[r * vocab + j] = 9.0f;
    auto [want, got] = run({logits}, [&](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{sample(in, std::vector<SamplingRow>(5))};
    });
    expect_equal(want[0], got[0], str_cat("greedy, vocab ", vocab));
  }
}

TEST_P(OpParity, SampleTokensSmallVocabulariesEveryParameter) {
  for (int64_t vocab : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{300}, int64_t{1000}}) {
    const std::vector<SamplingRow> rows = parameter_grid(vocab);
    const int64_t n = static_cast<int64_t>(rows.size());
    const Tensor logits = quantized_logits(n, vocab, 12, -5, 5, 0.25f);
    auto [want, got] = run({logits}, [&](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{sample(in, rows)};
    });
    expect_equal(want[0], got[0], str_cat("vocab ", vocab, ", ", n, " rows"));
  }
}

TEST_P(OpParity, SampleTokensDeepSeekVocabulary) {
  // 48 rows of 102400: three sort groups. Mixed parameters, logits in steps of 1/64 (ties).
  const int64_t vocab = 102400;
  std::vector<SamplingRow> rows;
  for (int64_t r = 0; r < 48; ++r) {
    if (r % 6 == 0)
      rows.push_back({});
    else
      rows.push_back({0.6 + 0.1 * (r % 5), (r % 4 == 1) ? 50 : 0, (r % 3 == 2) ? 0.92 : 1.0,
                      1000 + static_cast<uint64_t>(r), r * 977});
  }
  const Tensor logits = quantized_logits(48, vocab, 13, -8, 8, 1.0f / 64);
  auto [want, got] = run({logits}, [&](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{sample(in, rows)};
  });
  expect_equal(want[0], got[0], "vocab 102400, 48 rows");
}

TEST_P(OpParity, SampleTokensManyPositionsOfOneDistribution) {
  // One row, 256 consecutive output positions per seed: the Philox uniforms of both devices.
  for (uint64_t seed : {uint64_t{3}, uint64_t{0xfedcba9876543210ull}}) {
    const Tensor logits = repeated_row(256, 5000, 14);
    std::vector<SamplingRow> rows;
    for (int64_t i = 0; i < 256; ++i) rows.push_back({1.0, 0, i % 2 ? 0.8 : 1.0, seed, i});
    auto [want, got] = run({logits}, [&](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{sample(in, rows)};
    });
    expect_equal(want[0], got[0], str_cat("seed ", seed));
  }
}

TEST_P(OpParity, SampleTokensStridedRows) {
  const Tensor wide = quantized_logits(6, 1200, 15, -4, 4, 0.5f);
  const std::vector<SamplingRow> rows = {{}, {1.0, 0, 0.9, 5, 0}, {0.5, 10, 1.0, 6, 3},
                                         {}, {2.0, 0, 0.5, 7, 9}, {1.0, 1, 1.0, 8, 1}};
  auto [want, got] = run({wide}, [&](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{sample_tokens(in[0].slice(1, 100, 1100), rows)};  // rows 1200 apart
  });
  expect_equal(want[0], got[0], "strided rows");
}

TEST_P(OpParity, TopLogprobs) {
  for (int64_t vocab : {int64_t{5}, int64_t{1000}, int64_t{102400}}) {
    const Tensor logits = quantized_logits(24, vocab, 16, -7, 7, 1.0f / 16);
    for (int64_t k : {int64_t{1}, int64_t{5}, int64_t{20}}) {
      auto [want, got] = run({logits}, [&](const std::vector<Tensor>& in) {
        const TopLogprobs all = top_logprobs(in[0], k);
        const TopLogprobs picked = top_logprobs(in[0], k, {23, 0, 7, 7});
        return std::vector<Tensor>{all.ids, all.logprobs, picked.ids, picked.logprobs};
      });
      const std::string what = str_cat("vocab ", vocab, ", k ", k);
      expect_equal(want[0], got[0], what + ": ids");
      expect_close(want[1], got[1], tolerance(DType::kF32), what + ": logprobs");
      expect_equal(want[2], got[2], what + ": ids of picked rows");
      expect_close(want[3], got[3], tolerance(DType::kF32), what + ": logprobs of picked rows");
    }
  }
}

}  // namespace
}  // namespace mlaserve::ops::testing
