#pragma once
// `mlaserve serve` keeps its replicas up: each replica's workers on this node run under
// run_supervised on a thread of their own, so one replica's death leaves the others serving.
// Once restarting is on (the server serves: a replica that cannot start is a startup error, not
// something to retry), a replica whose workers end (one died: run_supervised has already
// stopped its peers) has them all spawned again as a fresh generation (a fresh rendezvous
// prefix, serve_launch.h) after a backoff that doubles per restart, up to `max_restarts` per
// replica; after that the replica stays down. Docs: docs/serve.md "Failures and restarts".
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "launcher/process_supervisor.h"

namespace mlaserve {

struct RestartPolicy {
  int max_restarts = 3;                              // per replica, over the server's life
  std::chrono::milliseconds first_backoff{1000};     // before the first restart
  std::chrono::milliseconds max_backoff{30000};      // the doubling stops here
};

// The backoff before restart number `restart` (0-based): first · 2^restart, capped.
std::chrono::milliseconds restart_backoff(const RestartPolicy& policy, int restart);

class ReplicaSupervisor {
 public:
  // `workers(replica, generation)`: that generation's workers of the replica on this node.
  using MakeWorkers = std::function<std::vector<WorkerProcess>(int replica, int generation)>;
  ReplicaSupervisor(int replicas, MakeWorkers workers, const RestartPolicy& policy);
  // Stops whatever workers still run (SIGTERM, then SIGKILL) and joins the threads.
  ~ReplicaSupervisor();

  // Whether a replica whose workers end is restarted (off at first, and once shutting down).
  void set_restarting(bool on);
  // Stops the replica's current workers (SIGTERM, then SIGKILL), which then restart like after a
  // death: for a replica the coordinator took out of service while its processes still run.
  void recycle(int replica);
  // True when every replica's workers ended for good before `deadline`.
  bool wait(std::chrono::steady_clock::time_point deadline);
  // Replicas down for good (out of restarts, or their workers could not be spawned).
  int replicas_down() const;
  int restarts() const;  // over all replicas
  // 0 when every replica's last generation exited cleanly, else that of its run_supervised.
  int exit_code() const;

 private:
  struct Replica {
    std::atomic<bool> recycle{false};
    std::atomic<bool> down{false};
    std::atomic<bool> done{false};  // its thread has returned
    std::atomic<int> exit_code{0};
    std::thread thread;
  };
  void run(int replica);
  // Sleeps until `until` unless restarting stops; true when restarting goes on.
  bool backoff_until(std::chrono::steady_clock::time_point until) const;

  const MakeWorkers workers_;
  const RestartPolicy policy_;
  std::atomic<bool> restarting_{false};
  std::atomic<bool> stopping_{false};  // the destructor runs
  std::atomic<int> restarts_{0};
  std::vector<std::unique_ptr<Replica>> replicas_;
};

}  // namespace mlaserve
