// run_supervised with /bin/sh children: success, the first failure reported with its rank and
// cause, the others stopped (SIGKILL for a child that ignores SIGTERM), and exit code 2 passed on
// when the failed rank reported bad input.
#include "launcher/process_supervisor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "launcher/local_launch.h"

#include <algorithm>
#include <thread>

namespace mlaserve {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

WorkerProcess sh(const std::string& script) {
  return {{"/bin/sh", "-c", script}, environment_with({})};
}

TEST(ProcessSupervisor, AllRanksSucceed) {
  const JobOutcome o = run_supervised({sh("echo out; echo err >&2"), sh("exit 0")});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_TRUE(o.failures.empty());
}

TEST(ProcessSupervisor, TheFailedRankIsNamedAndTheOthersAreStopped) {
  SupervisorOptions options;
  options.term_grace = 300ms;
  const auto start = Clock::now();
  // Rank 0 would run for 30 s; rank 2 even ignores SIGTERM and needs the SIGKILL.
  const JobOutcome o = run_supervised(
      {sh("exec sleep 30"), sh("sleep 0.2; exit 3"), sh("trap '' TERM; exec sleep 30")},
      options);
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_EQ(o.exit_code, 1);
  ASSERT_EQ(o.failures.size(), 1u);
  EXPECT_THAT(o.failures[0], MatchesRegex("rank 1 \\(pid [0-9]+\\) died: exited with code 3"));
}

TEST(ProcessSupervisor, ASignalDeathIsReportedAsSuch) {
  const JobOutcome o = run_supervised({sh("kill -9 $$"), sh("exec sleep 30")});
  EXPECT_EQ(o.exit_code, 1);
  ASSERT_FALSE(o.failures.empty());
  EXPECT_THAT(o.failures[0], HasSubstr("rank 0"));
  EXPECT_THAT(o.failures[0], HasSubstr("killed by signal 9"));
}

TEST(ProcessSupervisor, BadInputOnTheFailedRankKeepsExitCode2) {
  EXPECT_EQ(run_supervised({sh("exit 2"), sh("exec sleep 30")}).exit_code, 2);
}

TEST(ProcessSupervisor, EnvironmentOverridesReplaceInheritedValues) {
  setenv("MLASERVE_SUPERVISOR_TEST", "old", 1);
  const auto env = environment_with({"MLASERVE_SUPERVISOR_TEST=new"});
  EXPECT_EQ(std::count(env.begin(), env.end(), "MLASERVE_SUPERVISOR_TEST=new"), 1);
  EXPECT_EQ(std::count(env.begin(), env.end(), "MLASERVE_SUPERVISOR_TEST=old"), 0);
}

TEST(LocalLaunch, WorkerThreadsSplitTheMachineUnlessTheUserChose) {
  unsetenv("MLASERVE_NUM_THREADS");
  const int hw = std::max(1u, std::thread::hardware_concurrency());
  EXPECT_EQ(worker_threads_env(1), "MLASERVE_NUM_THREADS=" + std::to_string(hw));
  EXPECT_EQ(worker_threads_env(4096), "MLASERVE_NUM_THREADS=1");
  setenv("MLASERVE_NUM_THREADS", "3", 1);
  EXPECT_EQ(worker_threads_env(4), "MLASERVE_NUM_THREADS=3");
  unsetenv("MLASERVE_NUM_THREADS");
}

}  // namespace
}  // namespace mlaserve
