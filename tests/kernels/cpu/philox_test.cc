// Philox4x32-10 against the published known-answer vectors, the uniform and exp of the sampling
// rule (kernels/sampling_math.h), and cpu::sample_row against a plain reading of the rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels/cpu/sampling.h"
#include "kernels/philox.h"
#include "kernels/sampling_math.h"
#include "tests/support/random_data.h"

namespace mlaserve {
namespace {

struct Kat {
  philox::Counter counter;
  philox::Key key;
  philox::Counter want;
};

// Random123's tests/kat_vectors (github.com/DEShawResearch/random123, commit 9545ff64, lines
// 27-29, the "philox4x32 10" lines): counter (4 words), key (2 words), expected output (4 words):
// gen(0, 0), gen(all ones, all ones) and counter/key = the first hex digits of pi.
const Kat kKats[] = {
    {{{0x00000000, 0x00000000, 0x00000000, 0x00000000}},
     {{0x00000000, 0x00000000}},
     {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
    {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
     {{0xffffffff, 0xffffffff}},
     {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
    {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
     {{0xa4093822, 0x299f31d0}},
     {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
};

TEST(Philox, MatchesRandom123KnownAnswers) {
  for (const Kat& kat : kKats) {
    const philox::Counter got = philox::philox4x32_10(kat.counter, kat.key);
    for (int w = 0; w < 4; ++w) EXPECT_EQ(got.v[w], kat.want.v[w]) << "word " << w;
  }
}

TEST(Philox, UniformIsTheTop53BitsOfTheFirstTwoWords) {
  // Key (seed) 0, counter (position) 0 is the first known answer: words 0x6627e8d5, 0xe169c58d.
  const uint64_t bits = (uint64_t{0xe169c58d} << 32) | 0x6627e8d5u;
  EXPECT_EQ(sampling::uniform(0, 0), static_cast<double>(bits >> 11) / 9007199254740992.0);
  // The seed is the key (low word first), the position the counter's low 64 bits.
  const uint64_t seed = 0x299f31d0a4093822ull, position = 0x85a308d3243f6a88ull;
  const philox::Counter out =
      philox::philox4x32_10({{0x243f6a88, 0x85a308d3, 0, 0}}, {{0xa4093822, 0x299f31d0}});
  EXPECT_EQ(sampling::uniform(seed, position), philox::uniform53(out));
  EXPECT_NE(sampling::uniform(seed, position), sampling::uniform(seed, position + 1));
  EXPECT_NE(sampling::uniform(seed, position), sampling::uniform(seed + 1, position));
}

TEST(Philox, UniformsAreUniform) {
  // 10 bins over 100k positions of one seed: a chi-square far below its 99.9% point (27.9).
  std::vector<int> bins(10, 0);
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double u = sampling::uniform(7, static_cast<uint64_t>(i));
    ASSERT_TRUE(u >= 0 && u < 1) << u;
    ++bins[static_cast<int>(u * 10)];
  }
  double chi2 = 0;
  for (int b : bins) chi2 += (b - n / 10.0) * (b - n / 10.0) / (n / 10.0);
  EXPECT_LT(chi2, 27.9);
}

TEST(SamplingMath, ExpNonpositiveIsWithinTwoUlpOfExp) {
  for (double x = 0; x > -708; x -= 0.0173) {
    const double want = std::exp(x), got = sampling::exp_nonpositive(x);
    EXPECT_LE(std::abs(got - want), 2 * std::numeric_limits<double>::epsilon() * want) << x;
  }
  EXPECT_EQ(sampling::exp_nonpositive(0.0), 1.0);
  EXPECT_EQ(sampling::exp_nonpositive(-708.5), 0.0);
  EXPECT_EQ(sampling::exp_nonpositive(-INFINITY), 0.0);
  EXPECT_EQ(sampling::exp_nonpositive(NAN), 0.0);
}

// The rule as sampling_math.h states it, read plainly: a full sort, std::exp, sequential sums in
// long double. Agrees with cpu::sample_row unless a draw falls within ~1e-16 of a boundary.
int64_t reference_sample(const std::vector<float>& logits, const sampling::RowParams& p) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  if (p.temperature == 0) return std::max_element(logits.begin(), logits.end()) - logits.begin();
  std::vector<int64_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  auto scaled = [&](int64_t j) { return static_cast<float>(logits[j] / p.temperature); };
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return scaled(a) > scaled(b); });
  const int64_t keep = p.top_k > 0 ? std::min(p.top_k, vocab) : vocab;
  std::vector<long double> w(keep);
  long double total = 0;
  for (int64_t i = 0; i < keep; ++i)
    total += w[i] = std::exp(static_cast<long double>(scaled(order[i])) - scaled(order[0]));
  int64_t n = keep;
  long double cumulative = 0;
  for (int64_t i = 0; i < keep && p.top_p < 1; ++i)
    if ((cumulative += w[i] / total) >= p.top_p) {
      n = i + 1;
      break;
    }
  long double mass = 0;
  for (int64_t i = 0; i < n; ++i) mass += w[i];
  const long double u = sampling::uniform(p.seed, p.position) * mass;
  cumulative = 0;
  for (int64_t i = 0; i < n; ++i)
    if (u < (cumulative += w[i])) return order[i];
  return order[n - 1];
}

TEST(SampleRow, FollowsTheRuleAcrossChunks) {
  // 1000 candidates: four chunks of kSumChunk, so top-p cuts and draws land in later chunks.
  const std::vector<float> logits = testing::random_floats(1000, 11, -2, 2);
  cpu::SamplingScratch scratch;
  const sampling::RowParams params[] = {{1.0, 0, 1.0, 5, 0},   {0.3, 0, 0.95, 6, 0},
                                        {2.0, 700, 0.8, 7, 0}, {1.0, 40, 1.0, 8, 0},
                                        {1.0, 0, 0.2, 9, 0},   {0.0, 0, 1.0, 9, 0}};
  for (sampling::RowParams p : params)
    for (uint64_t position = 0; position < 300; ++position) {
      p.position = position;
      EXPECT_EQ(cpu::sample_row(logits.data(), 1000, p, scratch), reference_sample(logits, p))
          << "T " << p.temperature << " top_k " << p.top_k << " top_p " << p.top_p << " position "
          << position;
    }
}

TEST(SampleRow, EqualLogitsKeepTheLowestIdsUnderTopP) {
  // 1000 equal logits: the candidates are ids 0, 1, 2, ... and top_p 0.3005 keeps the first 301
  // (a cut inside the second chunk); the draws spread over all of them.
  const std::vector<float> logits(1000, 0.5f);
  cpu::SamplingScratch scratch;
  std::vector<int> counts(1000, 0);
  for (uint64_t position = 0; position < 15050; ++position)
    ++counts[cpu::sample_row(logits.data(), 1000, {1.0, 0, 0.3005, 3, position}, scratch)];
  for (int j = 0; j < 1000; ++j) {
    if (j < 301) {
      EXPECT_GT(counts[j], 15) << j;  // ~50 each
    } else {
      ASSERT_EQ(counts[j], 0) << j;
    }
  }
}

}  // namespace
}  // namespace mlaserve
