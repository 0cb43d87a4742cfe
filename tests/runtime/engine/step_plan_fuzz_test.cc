// Seeded mutation fuzzing of the step plan decoder: what a follower does with the words its
// leader broadcast. Seeds are encoded valid plans of every kind; mutations overwrite words with
// extremes and neighbours, drop, duplicate and splice them. The decoder must throw
// mlaserve::Error with kDataLoss, or return a plan that re-encodes to exactly the input (so no
// two inputs decode to one plan and nothing is silently dropped). A crash or hang fails too.
// The seed is fixed; the time budget (MLASERVE_FUZZ_SECONDS, default 5) bounds the iterations.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <random>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/engine/step_plan.h"

namespace mlaserve {
namespace {

std::vector<std::vector<int64_t>> seeds() {
  const std::vector<int32_t> blocks_a = {0, 3, 7}, blocks_b = {}, blocks_c = {2147483647};
  ForwardBatch one;
  one.sequences = {{{5, 6, 7, 8}, 0, &blocks_a}};
  ForwardBatch three;
  three.all_logits = true;
  three.sequences = {{{1}, 12, &blocks_a}, {{9, 9}, 0, &blocks_b}, {{42}, 100, &blocks_c}};
  return {encode_step_plan(StepPlan::setup_cache({64, 16, DType::kF32})),
          encode_step_plan(StepPlan::setup_cache({int64_t{1} << 31, 1 << 20, DType::kBF16})),
          encode_step_plan(StepPlan::forward(one)),
          encode_step_plan(StepPlan::forward(three)),
          encode_step_plan(StepPlan::stop()),
          encode_step_plan(StepPlan::keep_alive())};
}

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
const std::vector<int64_t> kExtremes = {kMin,          -1,        0,
                                        1,             2,         3,
                                        4,             5,         int64_t{1} << 20,
                                        (int64_t{1} << 20) + 1,  int64_t{1} << 31,
                                        (int64_t{1} << 31) + 1,  kMax,
                                        kStepPlanMagic};

void mutate(std::vector<int64_t>& w, const std::vector<std::vector<int64_t>>& all,
            std::mt19937_64& rng) {
  const size_t pos = rng() % (w.size() + 1);
  switch (rng() % 7) {
    case 0:
      if (!w.empty()) w[rng() % w.size()] = kExtremes[rng() % kExtremes.size()];
      break;
    case 1:  // a count one off in either direction is the likeliest corruption
      if (!w.empty()) w[rng() % w.size()] += (rng() % 2) ? 1 : -1;
      break;
    case 2:
      if (!w.empty()) w[rng() % w.size()] ^= int64_t{1} << (rng() % 64);
      break;
    case 3:
      w.resize(pos);
      break;
    case 4:
      w.insert(w.begin() + static_cast<std::ptrdiff_t>(pos), kExtremes[rng() % kExtremes.size()]);
      break;
    case 5:
      if (pos < w.size()) w.erase(w.begin() + static_cast<std::ptrdiff_t>(pos));
      break;
    case 6: {  // our prefix, another plan's suffix
      const std::vector<int64_t>& other = all[rng() % all.size()];
      w.resize(pos);
      w.insert(w.end(), other.begin() + static_cast<std::ptrdiff_t>(rng() % (other.size() + 1)),
               other.end());
      break;
    }
  }
}

TEST(StepPlanFuzz, MutatedPlansDecodeConsistentlyOrFailWithDataLoss) {
  const char* env = std::getenv("MLASERVE_FUZZ_SECONDS");
  const double budget_s = env != nullptr ? std::atof(env) : 5.0;
  const std::vector<std::vector<int64_t>> all = seeds();
  for (const auto& words : all) ASSERT_EQ(encode_step_plan(decode_step_plan(words)), words);
  std::mt19937_64 rng(0x91A45u);

  const auto start = std::chrono::steady_clock::now();
  uint64_t iterations = 0, accepted = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
         budget_s) {
    ++iterations;
    std::vector<int64_t> words = all[rng() % all.size()];
    for (size_t n = 1 + rng() % 3; n > 0; --n) mutate(words, all, rng);
    try {
      const StepPlan plan = decode_step_plan(words);
      ++accepted;
      ASSERT_EQ(encode_step_plan(plan), words) << "iteration " << iterations;
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::kDataLoss) << e.what();
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iterations << " threw a non-mlaserve exception: " << e.what();
    }
  }
  std::cout << "step plan fuzz: " << iterations << " plans (" << accepted << " accepted) in "
            << budget_s << " s\n";
  RecordProperty("iterations", static_cast<int>(iterations));
  EXPECT_GT(iterations, 1000u) << "the budget should allow far more iterations";
  EXPECT_GT(accepted, 0u) << "mutations should sometimes keep a plan valid";
}

}  // namespace
}  // namespace mlaserve
