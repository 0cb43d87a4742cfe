// The reference cases (tests/data/REFERENCE.md) through the Engine with every prompt submitted
// at once, in four settings: default scheduling, chunked prefill (16 tokens per step), a cache
// small enough to force preemption by recompute, and every prompt submitted twice (the copy
// reuses the original's cached prompt blocks). Every setting must give the reference greedy
// tokens and logits rows within the fp32 tolerance of deepseek_v2_test.
#include "runtime/engine/engine.h"

#include <cstdio>
#include <map>

#include <gtest/gtest.h>

#include "tests/runtime/model/reference_cases.h"

namespace mlaserve {
namespace {

using refcases::read_json;
using refcases::rel_error;

constexpr double kF32Tolerance = 1e-4;

// What one prompt must produce: 16 greedy tokens and the 16 logits rows that chose them.
struct Expected {
  std::vector<int64_t> prompt;
  std::vector<int64_t> tokens;
  std::vector<std::vector<float>> rows;
};

std::vector<Expected> expected_outputs(const nlohmann::json& cases) {
  std::vector<Expected> out;
  for (const auto& c : cases["cases"]) {
    Expected e{c["prompt"].get<std::vector<int64_t>>(),
               c["greedy_tokens"].get<std::vector<int64_t>>(),
               {c["prefill_logits"].get<std::vector<float>>()}};
    for (const auto& row : c["decode_logits"]) e.rows.push_back(row.get<std::vector<float>>());
    out.push_back(std::move(e));
  }
  for (const auto& bc : cases["batch_cases"]) {
    const auto prompts = bc["prompts"].get<std::vector<std::vector<int64_t>>>();
    for (size_t r = 0; r < prompts.size(); ++r)
      out.push_back({prompts[r], bc["rows"][r]["greedy_tokens"].get<std::vector<int64_t>>(),
                     bc["rows"][r]["step_logits"].get<std::vector<std::vector<float>>>()});
  }
  return out;
}

struct Collected {
  std::vector<int64_t> tokens;
  std::vector<std::vector<float>> logits;
  std::string finish_reason;
};

void collect(const std::vector<RequestOutput>& outs, std::map<RequestId, Collected>& got) {
  for (const RequestOutput& o : outs) {
    Collected& c = got[o.id];
    EXPECT_TRUE(c.finish_reason.empty()) << "request " << o.id << " reported after finishing";
    c.tokens.insert(c.tokens.end(), o.new_tokens.begin(), o.new_tokens.end());
    c.logits.insert(c.logits.end(), o.logits.begin(), o.logits.end());
    if (o.finished) c.finish_reason = o.finish_reason;
  }
}

EngineRequest greedy_request(const std::vector<int64_t>& prompt) {
  EngineRequest r;
  r.prompt = prompt;
  r.max_tokens = 16;
  r.ignore_eos = true;
  r.keep_logits = true;
  return r;
}

class EngineReference : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string dir = refcases::model_dir(GetParam());
    expected_ = expected_outputs(read_json(dir + "/cases.json"));
    model_ = DeepseekV2Model::load(dir, DType::kF32);
  }

  // Every expected prompt (ids 0..n-1), then with `twice` the same prompts again (ids n..2n-1)
  // after the first step, when the originals' prompt blocks are computed and published.
  EngineStats run(const EngineConfig& config, bool twice) {
    LocalStepExecutor local(*model_);
    Engine engine(*model_, local, config);
    const auto n = static_cast<RequestId>(expected_.size());
    for (RequestId i = 0; i < n; ++i) engine.add_request(i, greedy_request(expected_[i].prompt));
    std::map<RequestId, Collected> got;
    collect(engine.step(), got);
    if (twice)
      for (RequestId i = 0; i < n; ++i)
        engine.add_request(n + i, greedy_request(expected_[i].prompt));
    for (int guard = 0; engine.has_unfinished(); ++guard) {
      if (guard == 10000) {
        ADD_FAILURE() << "the engine does not finish";
        break;
      }
      collect(engine.step(), got);
    }
    const EngineStats stats = engine.stats();
    EXPECT_EQ(stats.blocks.in_use, 0);
    engine.allocator().check_invariants();
    EXPECT_EQ(got.size(), static_cast<size_t>(twice ? 2 * n : n));
    double worst = 0;
    for (const auto& [id, c] : got) {
      const Expected& e = expected_[id % n];
      EXPECT_EQ(c.tokens, e.tokens) << "request " << id;
      EXPECT_EQ(c.finish_reason, "length") << "request " << id;
      EXPECT_EQ(c.logits.size(), e.rows.size()) << "request " << id;
      for (size_t k = 0; k < std::min(c.logits.size(), e.rows.size()); ++k)
        worst = std::max(worst, rel_error(c.logits[k].data(), e.rows[k]));
    }
    std::printf("[%s] worst row rel %.3g, preemptions %llu, prefix hits %llu/%llu, steps %llu\n",
                GetParam().c_str(), worst, static_cast<unsigned long long>(stats.preemptions),
                static_cast<unsigned long long>(stats.blocks.prefix_hits),
                static_cast<unsigned long long>(stats.blocks.prefix_queries),
                static_cast<unsigned long long>(stats.steps));
    EXPECT_LE(worst, kF32Tolerance);
    return stats;
  }

  // Blocks of 16 rather than the default 64: the reference prompts are short, and smaller blocks
  // make prefix sharing, block-boundary crossings and preemption happen within them.
  EngineConfig config(int64_t num_blocks) const {
    EngineConfig c;
    c.num_blocks = num_blocks;
    c.block_size = 16;
    return c;
  }

  std::vector<Expected> expected_;
  std::unique_ptr<DeepseekV2Model> model_;
};

TEST_P(EngineReference, AllPromptsAtOnceWithDefaults) {
  EngineConfig c;  // block size 64, 2048 tokens per step, 256 sequences
  c.num_blocks = 64;
  const EngineStats s = run(c, false);
  EXPECT_EQ(s.preemptions, 0u);
  EXPECT_EQ(s.generated_tokens, 16 * expected_.size());
}

TEST_P(EngineReference, ChunkedPrefillOf16TokensPerStep) {
  EngineConfig c = config(64);
  c.scheduler.max_num_batched_tokens = 16;
  const EngineStats s = run(c, false);
  // The longest prompt alone needs several steps before its first token.
  EXPECT_GT(s.steps, 16u + 2);
}

TEST_P(EngineReference, SmallCachePreemptsAndRecomputes) {
  // The longest request needs 8 blocks of 16 (prompt 100 + 15 fed tokens on tiny-v2); all of
  // them together need about 3 times this cache.
  const EngineStats s = run(config(9), false);
  EXPECT_GT(s.preemptions, 0u);
}

TEST_P(EngineReference, SecondSubmissionHitsThePrefixCache) {
  const EngineStats s = run(config(64), true);
  EXPECT_GT(s.blocks.prefix_hits, 0u);
}

TEST_P(EngineReference, PrefixCachingOffStillMatches) {
  EngineConfig c = config(64);
  c.prefix_caching = false;
  const EngineStats s = run(c, true);
  EXPECT_EQ(s.blocks.prefix_hits, 0u);
}

INSTANTIATE_TEST_SUITE_P(Models, EngineReference, ::testing::Values("tiny-lite", "tiny-v2"));

}  // namespace
}  // namespace mlaserve
