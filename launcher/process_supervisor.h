#pragma once
// Runs the ranks of one job as child processes and watches them: every child's stderr is piped
// back and each line re-emitted on our stderr as "[rank r] line"; rank 0's stdout is ours,
// unprefixed (it carries the job's output); the other ranks' stdout joins their stderr pipe.
//
// Supervision: the first rank that exits non-zero or is killed by a signal fails the job. We then
// collect any other rank that failed on its own within `settle`, send SIGTERM to the rest,
// SIGKILL after `term_grace`, reap everything (with a deadline), and report each failed rank as
// "rank R (pid P) died: killed by signal 9" / "exited with code C". Children are started with
// PR_SET_PDEATHSIG = SIGKILL, so a launcher killed outright takes its workers with it.
#include <atomic>
#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace mlaserve {

struct WorkerProcess {
  std::vector<std::string> argv;  // argv[0] is the program path
  std::vector<std::string> env;   // "NAME=value", the child's whole environment
};

struct SupervisorOptions {
  std::chrono::milliseconds settle{100};       // after the first failure, for simultaneous ones
  std::chrono::milliseconds term_grace{2000};  // SIGTERM -> SIGKILL
  std::chrono::milliseconds reap_deadline{3000};  // after SIGKILL, for the kernel to reap
  // Names rank r as "<rank_label> r" in every line: serve supervises each replica on its own and
  // says "replica 1 rank" so the two replicas' rank 0 stay apart in the log.
  std::string rank_label = "rank";
  // Once it reads true, the ranks are stopped as after a failure (SIGTERM, then SIGKILL): serve
  // restarts a replica whose leader went silent although its processes live.
  const std::atomic<bool>* stop = nullptr;
};

struct JobOutcome {
  int exit_code = 0;                  // 0 ok; 2 if the first failed rank exited with 2; else 1
  std::vector<std::string> failures;  // "rank 1 (pid 123) died: killed by signal 9"
};

// Starts rank r = index in `workers`, logs "[launcher] rank r pid P" to stderr, supervises until
// all exit. Failures are also printed as "mlaserve: error: <failure>".
JobOutcome run_supervised(const std::vector<WorkerProcess>& workers,
                          const SupervisorOptions& options = {});

// Our environment with `overrides` ("NAME=value") replacing or adding entries.
std::vector<std::string> environment_with(const std::vector<std::string>& overrides);

}  // namespace mlaserve
