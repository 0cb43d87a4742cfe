// ReplicaSupervisor with /bin/sh workers: a replica whose worker dies is respawned as the next
// generation after a doubling backoff until --max-restarts is spent, while another replica's
// workers run on untouched; recycle() stops a live replica's workers and restarts them; with
// restarting off (startup, shutdown), workers that exit stay down and wait() returns. Also the stop flag of
// run_supervised.
#include "launcher/replica_supervisor.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

namespace mlaserve {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

WorkerProcess sh(const std::string& script) {
  return {{"/bin/sh", "-c", script}, environment_with({})};
}

TEST(ReplicaSupervisor, BackoffDoublesUpToItsCap) {
  const RestartPolicy p{.max_restarts = 9, .first_backoff = 1000ms, .max_backoff = 5000ms};
  EXPECT_EQ(restart_backoff(p, 0), 1000ms);
  EXPECT_EQ(restart_backoff(p, 1), 2000ms);
  EXPECT_EQ(restart_backoff(p, 2), 4000ms);
  EXPECT_EQ(restart_backoff(p, 3), 5000ms);
  EXPECT_EQ(restart_backoff(p, 60), 5000ms);
}

TEST(ReplicaSupervisor, ADyingReplicaRestartsUntilItsRestartsAreSpentTheOtherRunsOn) {
  std::mutex mu;
  std::vector<std::pair<int, int>> spawned;  // (replica, generation)
  ReplicaSupervisor supervisor(
      2,
      [&](int replica, int generation) {
        std::lock_guard<std::mutex> lock(mu);
        spawned.emplace_back(replica, generation);
        // Replica 0's rank 1 dies at once; replica 1 serves until it is told to stop.
        if (replica == 0) return std::vector<WorkerProcess>{sh("exec sleep 30"), sh("exit 1")};
        return std::vector<WorkerProcess>{sh("exec sleep 30")};
      },
      {.max_restarts = 2, .first_backoff = 20ms, .max_backoff = 40ms});
  supervisor.set_restarting(true);
  const auto deadline = Clock::now() + 20s;
  while (supervisor.replicas_down() < 1 && Clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(supervisor.replicas_down(), 1);
  EXPECT_EQ(supervisor.restarts(), 2);
  {
    std::lock_guard<std::mutex> lock(mu);
    const std::vector<std::pair<int, int>> replica0 = {{0, 0}, {0, 1}, {0, 2}};
    std::vector<std::pair<int, int>> seen0;
    int replica1 = 0;
    for (const auto& s : spawned) {
      if (s.first == 0) seen0.push_back(s);
      replica1 += s.first == 1;
    }
    EXPECT_EQ(seen0, replica0);
    EXPECT_EQ(replica1, 1);  // never restarted: the other replica's death did not touch it
  }
  supervisor.set_restarting(false);
  supervisor.recycle(1);
  EXPECT_TRUE(supervisor.wait(Clock::now() + 10s));
  EXPECT_EQ(supervisor.restarts(), 2);
  EXPECT_EQ(supervisor.replicas_down(), 2);
}

TEST(ReplicaSupervisor, RecycleRestartsALiveReplica) {
  std::atomic<int> generations{0};
  ReplicaSupervisor supervisor(
      1,
      [&](int, int generation) {
        generations = generation + 1;
        return std::vector<WorkerProcess>{sh("exec sleep 30")};
      },
      {.max_restarts = 3, .first_backoff = 10ms, .max_backoff = 10ms});
  supervisor.set_restarting(true);
  const auto start = Clock::now();
  // Once the first generation is being spawned (recycling an unspawned one is a no-op).
  while (generations < 1 && Clock::now() < start + 10s) std::this_thread::sleep_for(10ms);
  supervisor.recycle(0);
  while (generations < 2 && Clock::now() < start + 10s) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(generations, 2);
  EXPECT_LT(Clock::now() - start, 10s);
  EXPECT_EQ(supervisor.replicas_down(), 0);
  // The destructor stops the second generation; the test ends within the reap deadlines.
}

TEST(ReplicaSupervisor, BeforeRestartingIsOnADeadReplicaStaysDown) {
  ReplicaSupervisor supervisor(
      1, [](int, int) { return std::vector<WorkerProcess>{sh("exit 2")}; },
      {.max_restarts = 3, .first_backoff = 10ms, .max_backoff = 10ms});
  EXPECT_TRUE(supervisor.wait(Clock::now() + 10s));
  EXPECT_EQ(supervisor.replicas_down(), 1);
  EXPECT_EQ(supervisor.restarts(), 0);
  EXPECT_EQ(supervisor.exit_code(), 2);
}

TEST(ProcessSupervisor, TheStopFlagEndsEveryRank) {
  std::atomic<bool> stop{false};
  SupervisorOptions options;
  options.term_grace = 300ms;
  options.stop = &stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    stop = true;
  });
  const auto start = Clock::now();
  const JobOutcome o =
      run_supervised({sh("exec sleep 30"), sh("trap '' TERM; exec sleep 30")}, options);
  stopper.join();
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_TRUE(o.failures.empty());  // stopped on purpose, not failed
}

}  // namespace
}  // namespace mlaserve
