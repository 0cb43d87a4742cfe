// A leader and followers as threads joined by real Gloo (TCP on 127.0.0.1): generate() driven
// through the step plan gives the same tokens as single-process generation, and followers run
// exactly the leader's forward steps, end with caches identical to its own, and return on stop.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "parallel/gloo_communicator.h"
#include "parallel/memory_store.h"
#include "runtime/core/error.h"
#include "runtime/engine/generator.h"
#include "runtime/engine/replicated_steps.h"

namespace mlaserve {
namespace {

std::vector<GenerationRequest> requests() {
  std::vector<GenerationRequest> rs(2);
  rs[0].prompt = {5, 6, 7};
  rs[1].prompt = {11, 3};
  for (auto& r : rs) {
    r.max_new_tokens = 70;  // crosses a 64-token block boundary
    r.ignore_eos = true;
  }
  return rs;
}

TEST(ReplicatedSteps, LeaderAndFollowersRunTheSamePlan) {
  auto model = DeepseekV2Model::load(std::string(MLASERVE_TEST_DATA_DIR) + "/tiny-lite");
  LocalStepExecutor local(*model);
  const GenerationRun expected = generate(*model, requests(), {}, local);

  const int size = 3;
  auto store = std::make_shared<parallel::MemoryStore>();
  std::vector<std::string> errors(size);
  std::vector<int64_t> follower_steps(size, -1);
  std::vector<uint64_t> checksums(size, 0);
  GenerationRun got;
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r)
    threads.emplace_back([&, r] {
      try {
        auto control = parallel::connect_gloo(store, r, size);
        if (r == 0) {
          LeaderStepExecutor leader(*model, *control);
          got = generate(*model, requests(), {}, leader);
          leader.stop();
          leader.stop();  // idempotent
        } else {
          follower_steps[r] = run_follower(*model, *control, 0, {}, &checksums[r]);
        }
      } catch (const Error& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < size; ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
  ASSERT_EQ(got.results.size(), expected.results.size());
  for (size_t i = 0; i < got.results.size(); ++i)
    EXPECT_EQ(got.results[i].tokens, expected.results[i].tokens) << i;
  // The followers wrote exactly the blocks the leader's plans named: identical caches, and
  // identical to a single process's.
  EXPECT_EQ(got.cache_checksum, expected.cache_checksum);
  for (int r = 1; r < size; ++r) EXPECT_EQ(checksums[r], got.cache_checksum) << "rank " << r;
  // One prefill plus 69 decode steps (the 70th token comes from the 69th decode's logits).
  for (int r = 1; r < size; ++r) EXPECT_EQ(follower_steps[r], 70) << "rank " << r;
}

TEST(ReplicatedSteps, ForwardBeforeSetupIsRejected) {
  auto model = DeepseekV2Model::load(std::string(MLASERVE_TEST_DATA_DIR) + "/tiny-lite");
  auto store = std::make_shared<parallel::MemoryStore>();
  std::string follower_error;
  std::thread follower([&] {
    try {
      auto control = parallel::connect_gloo(store, 1, 2);
      run_follower(*model, *control);
    } catch (const Error& e) {
      follower_error = e.what();
    }
  });
  auto control = parallel::connect_gloo(store, 0, 2);
  std::vector<int32_t> table = {0};
  ForwardBatch batch;
  batch.sequences.push_back({{1}, 0, &table});
  broadcast_step_plan(*control, StepPlan::forward(batch), 0);
  follower.join();
  EXPECT_THAT(follower_error, ::testing::HasSubstr("rank 1: forward plan before any setup"));
}

}  // namespace
}  // namespace mlaserve

namespace mlaserve {
namespace {

TEST(ReplicatedSteps, SmallAndLargePlansBothArrive) {
  // Small plans ride in the fixed-size first message; large ones take a second broadcast.
  std::vector<int32_t> table = {0, 1, 2};
  std::vector<StepPlan> plans;
  for (int64_t tokens : {1, 500, 511, 512, 3000}) {
    ForwardBatch batch;
    batch.sequences.push_back({std::vector<int64_t>(tokens, 7), 4, &table});
    plans.push_back(StepPlan::forward(batch));
  }
  plans.push_back(StepPlan::stop());
  auto store = std::make_shared<parallel::MemoryStore>();
  std::vector<StepPlan> received;
  std::thread follower([&] {
    auto control = parallel::connect_gloo(store, 1, 2);
    for (size_t i = 0; i < plans.size(); ++i) received.push_back(receive_step_plan(*control, 0));
  });
  auto control = parallel::connect_gloo(store, 0, 2);
  for (const auto& p : plans) broadcast_step_plan(*control, p, 0);
  follower.join();
  EXPECT_EQ(received, plans);
}

}  // namespace
}  // namespace mlaserve
