#include "launcher/replica_supervisor.h"

#include <algorithm>
#include <cstdio>

#include "runtime/core/error.h"

namespace mlaserve {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds restart_backoff(const RestartPolicy& policy, int restart) {
  auto backoff = policy.first_backoff;
  for (int i = 0; i < restart && backoff < policy.max_backoff; ++i) backoff *= 2;
  return std::min(backoff, policy.max_backoff);
}

ReplicaSupervisor::ReplicaSupervisor(int replicas, MakeWorkers workers,
                                     const RestartPolicy& policy)
    : workers_(std::move(workers)), policy_(policy) {
  MLA_ENSURE(policy.max_restarts >= 0, kInvalidArgument, "--max-restarts must be >= 0, got ",
             policy.max_restarts);
  for (int k = 0; k < replicas; ++k) replicas_.push_back(std::make_unique<Replica>());
  for (int k = 0; k < replicas; ++k) replicas_[k]->thread = std::thread([this, k] { run(k); });
}

ReplicaSupervisor::~ReplicaSupervisor() {
  // Workers still running here would keep their threads (and us) alive forever.
  stopping_ = true;
  restarting_ = false;
  // Again and again: a thread between generations clears the flag before it spawns.
  const auto all_done = [&] {
    return std::all_of(replicas_.begin(), replicas_.end(),
                       [](const auto& r) { return r->done.load(); });
  };
  while (!all_done()) {
    for (auto& r : replicas_) r->recycle = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& r : replicas_)
    if (r->thread.joinable()) r->thread.join();
}

bool ReplicaSupervisor::backoff_until(Clock::time_point until) const {
  while (restarting_ && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return restarting_;
}

void ReplicaSupervisor::run(int k) {
  Replica& r = *replicas_[k];
  SupervisorOptions options;
  options.rank_label = "replica " + std::to_string(k) + " rank";
  options.stop = &r.recycle;
  for (int generation = 0; !stopping_; ++generation) {
    r.recycle = false;
    try {
      const std::vector<WorkerProcess> workers = workers_(k, generation);
      if (workers.empty()) break;  // the replica lives on other nodes
      const JobOutcome outcome = run_supervised(workers, options);
      r.exit_code = outcome.exit_code;
    } catch (const Error& e) {
      // Spawning failed (fork refused): trying again would likely fail the same way.
      std::fprintf(stderr, "mlaserve: error: replica %d: %s; it stays out of service\n", k,
                   e.what());
      r.exit_code = 1;
      r.down = true;
      break;
    }
    if (stopping_) break;
    if (!restarting_ || generation >= policy_.max_restarts) {
      if (restarting_)
        std::fprintf(stderr, "mlaserve: error: replica %d is down and out of restarts "
                     "(--max-restarts %d); it stays out of service\n", k, policy_.max_restarts);
      r.down = true;
      break;
    }
    const auto backoff = restart_backoff(policy_, generation);
    std::fprintf(stderr, "mlaserve: replica %d is down; restarting its workers in %.1f s "
                 "(restart %d of %d)\n", k, backoff.count() / 1000.0, generation + 1,
                 policy_.max_restarts);
    std::fflush(stderr);
    if (!backoff_until(Clock::now() + backoff)) break;
    restarts_ += 1;
  }
  r.done = true;
}

void ReplicaSupervisor::set_restarting(bool on) { restarting_ = on; }

void ReplicaSupervisor::recycle(int replica) { replicas_.at(replica)->recycle = true; }

bool ReplicaSupervisor::wait(Clock::time_point deadline) {
  auto all_done = [&] {
    return std::all_of(replicas_.begin(), replicas_.end(),
                       [](const auto& r) { return r->done.load(); });
  };
  while (!all_done() && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return all_done();
}

int ReplicaSupervisor::replicas_down() const {
  return static_cast<int>(std::count_if(replicas_.begin(), replicas_.end(),
                                        [](const auto& r) { return r->down.load(); }));
}

int ReplicaSupervisor::restarts() const { return restarts_; }

int ReplicaSupervisor::exit_code() const {
  for (const auto& r : replicas_)
    if (r->exit_code != 0) return r->exit_code;
  return 0;
}

}  // namespace mlaserve
