#pragma once
// Step plans over the CPU control communicator: the leader broadcasts each plan (its size in
// int64 words first, then the words as an int64 tensor; a plan under 511 words rides in the same
// fixed-size first message) and runs it; followers receive and mirror it.
// Every wait is a collective on `control`, so it inherits the communicator's timeout: a dead or
// silent peer becomes an Error, never a hang.
#include <cstdint>
#include <functional>

#include "parallel/communicator.h"
#include "runtime/engine/step_executor.h"
#include "runtime/engine/step_plan.h"

namespace mlaserve {

void broadcast_step_plan(parallel::Communicator& control, const StepPlan& plan, int root);
StepPlan receive_step_plan(parallel::Communicator& control, int root);

class LeaderStepExecutor final : public StepExecutor {
 public:
  LeaderStepExecutor(const DeepseekV2Model& model, parallel::Communicator& control)
      : model_(model), control_(control) {}
  void setup_cache(const KvCache& cache) override;
  Tensor forward(const ForwardBatch& batch, KvCache& cache) override;
  // Releases the followers (their loop returns). Idempotent; call it on every exit path.
  void stop();
  // Tells the followers the leader is alive without running anything: an idle leader calls it
  // more often than the control group's timeout, so followers can wait with that timeout.
  void keep_alive();

 private:
  const DeepseekV2Model& model_;
  parallel::Communicator& control_;
  bool stopped_ = false;
};

// Observes each forward a follower ran and how long it took (for per-rank bench figures).
using FollowerStepObserver = std::function<void(const StepPlan& plan, double seconds)>;

// A follower's whole life: receive plan -> mirror it (keep-alive plans: nothing to do), until
// the leader (rank `root` of `control`) sends stop. Returns the number of forward steps run;
// `cache_checksum`, when given, receives KvCache::checksum() of the follower's cache at the stop
// (0 if it never had one). A forward before any setup-cache plan is kFailedPrecondition; errors
// from the plan or the forward name this rank.
int64_t run_follower(const DeepseekV2Model& model, parallel::Communicator& control, int root = 0,
                     const FollowerStepObserver& observer = {}, uint64_t* cache_checksum = nullptr);

}  // namespace mlaserve
