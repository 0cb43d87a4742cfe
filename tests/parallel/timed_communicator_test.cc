// TimedCommunicator forwards every collective unchanged and accounts calls, time and the
// backend's bytes per collective (2 ranks of real Gloo on 127.0.0.1).
#include <gtest/gtest.h>

#include <thread>

#include "parallel/gloo_communicator.h"
#include "parallel/memory_store.h"
#include "parallel/timed_communicator.h"

namespace mlaserve::parallel {
namespace {

TEST(TimedCommunicator, CountsCallsTimeAndBytesPerCollective) {
  auto store = std::make_shared<MemoryStore>();
  std::vector<CommunicationStats> stats(2);
  std::vector<float> reduced(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      TimedCommunicator timed(connect_gloo(store, r, 2));
      Tensor t = Tensor::from_floats({1000}, std::vector<float>(1000, r + 1.f));
      timed.all_reduce_sum(t);
      timed.all_reduce_sum(t);
      reduced[r] = t.data<float>()[0];
      Tensor row = Tensor::from_floats({1, 10}, std::vector<float>(10, 1.f));
      EXPECT_EQ(timed.all_gather(row).dim(0), 2);
      const CommunicationStats before = timed.stats();
      timed.barrier();
      EXPECT_EQ((timed.stats() - before)[Collective::kBarrier].calls, 1);
      timed.synchronize();  // forwarded (Gloo: nothing to wait for) and counted in its own row
      EXPECT_EQ(timed.stats()[Collective::kSynchronize].calls, 1);
      stats[r] = timed.stats();
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(reduced[r], 6.f);  // (1 + 2) twice
    const auto& ar = stats[r][Collective::kAllReduceSum];
    EXPECT_EQ(ar.calls, 2);
    EXPECT_EQ(ar.bytes_sent, 2u * 4000u);  // ring: 2(n-1)/n * B per call, B = 4000, n = 2
    EXPECT_GT(ar.seconds, 0.0);
    EXPECT_EQ(stats[r][Collective::kAllGather].bytes_sent, 40u);  // ring: (n-1) * B
    EXPECT_EQ(stats[r].total().calls, 5);
    EXPECT_EQ(stats[r][Collective::kSynchronize].bytes_sent, 0u);
  }
}

}  // namespace
}  // namespace mlaserve::parallel
