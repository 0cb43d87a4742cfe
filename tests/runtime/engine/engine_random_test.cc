// 1,000 requests with random prompt and output lengths, stop tokens, arrival times and aborts on
// tiny-lite with a small cache (so chunked prefill, prefix sharing, preemption and eviction all
// happen), fixed seed. Afterwards every request has ended exactly once, every block is free and
// the allocator's invariants hold.
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "runtime/engine/engine.h"
#include "tests/runtime/model/reference_cases.h"

namespace mlaserve {
namespace {

TEST(EngineRandom, ThousandRequestsWithAbortsEndCleanly) {
  auto model = DeepseekV2Model::load(refcases::model_dir("tiny-lite"), DType::kF32);
  LocalStepExecutor local(*model);
  EngineConfig config;
  config.num_blocks = 48;
  config.block_size = 4;
  config.scheduler.max_num_batched_tokens = 48;
  config.scheduler.max_num_seqs = 24;
  Engine engine(*model, local, config);

  std::mt19937_64 rng(20261123);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  // A few shared prefixes make prefix-cache hits (and evictions of cached blocks) likely.
  std::vector<std::vector<int64_t>> prefixes(4);
  for (auto& p : prefixes)
    for (int i = 0; i < 12; ++i) p.push_back(uniform(2, 255));

  constexpr int kRequests = 1000;
  std::map<RequestId, EngineRequest> submitted;
  std::map<RequestId, std::string> ended;
  std::map<RequestId, int64_t> generated;
  RequestId next = 0;
  auto submit = [&] {
    EngineRequest r;
    if (uniform(0, 2) == 0) r.prompt = prefixes[uniform(0, 3)];
    for (int64_t n = uniform(1, 40); n > 0; --n) r.prompt.push_back(uniform(2, 255));
    r.max_tokens = uniform(1, 24);
    if (uniform(0, 3) == 0) r.stop_token_ids = {uniform(2, 255), uniform(2, 255)};
    r.ignore_eos = uniform(0, 1) == 0;
    if (uniform(0, 1) == 0) r.sampling = {0.8, 20, 0.9, static_cast<uint64_t>(next)};
    // One in a hundred can never fit (more than 48 blocks of 4): it must end with an error.
    if (uniform(0, 99) == 0) r.prompt.resize(200, 7);
    submitted[next] = r;
    engine.add_request(next++, std::move(r));
  };
  for (int i = 0; i < 100; ++i) submit();

  for (int step = 0; engine.has_unfinished() || next < kRequests; ++step) {
    ASSERT_LT(step, 200000);
    for (int64_t k = uniform(0, 4); k > 0 && next < kRequests; --k) submit();
    if (uniform(0, 3) == 0 && next > 0) {
      const RequestId victim = uniform(0, next - 1);
      const bool was_running = !ended.contains(victim);
      EXPECT_EQ(engine.abort(victim), was_running) << "abort " << victim;
    }
    for (const RequestOutput& o : engine.step()) {
      ASSERT_FALSE(ended.contains(o.id)) << "request " << o.id << " reported after it ended";
      generated[o.id] += static_cast<int64_t>(o.new_tokens.size());
      if (o.finished) ended[o.id] = o.finish_reason;
    }
    if (step % 64 == 0) engine.allocator().check_invariants();
  }

  ASSERT_EQ(ended.size(), static_cast<size_t>(kRequests));
  std::map<std::string, int> reasons;
  for (const auto& [id, reason] : ended) {
    ++reasons[reason];
    const EngineRequest& r = submitted[id];
    EXPECT_LE(generated[id], r.max_tokens) << "request " << id;
    if (reason == "length") {
      EXPECT_EQ(generated[id], r.max_tokens) << "request " << id;
    }
    if (reason == "error") {
      EXPECT_EQ(r.prompt.size(), 200u) << "request " << id;
    }
  }
  const EngineStats s = engine.stats();
  EXPECT_EQ(s.blocks.in_use, 0);
  EXPECT_EQ(s.blocks.free + s.blocks.cached_evictable, config.num_blocks);
  EXPECT_EQ(s.running + s.waiting, 0);
  engine.allocator().check_invariants();
  EXPECT_GT(s.preemptions, 0u);
  EXPECT_GT(s.blocks.prefix_hits, 0u);
  EXPECT_GT(reasons["abort"], 0);
  EXPECT_GT(reasons["length"], 0);
  std::printf("reasons: length %d, stop %d, abort %d, error %d; steps %llu, preemptions %llu, "
              "prefix hits %llu/%llu, evictions %llu\n",
              reasons["length"], reasons["stop"], reasons["abort"], reasons["error"],
              static_cast<unsigned long long>(s.steps),
              static_cast<unsigned long long>(s.preemptions),
              static_cast<unsigned long long>(s.blocks.prefix_hits),
              static_cast<unsigned long long>(s.blocks.prefix_queries),
              static_cast<unsigned long long>(s.blocks.evictions));
}

}  // namespace
}  // namespace mlaserve
