#include "runtime/engine/replicated_steps.h"

#include <chrono>
#include <cstring>
#include <memory>

#include "runtime/core/error.h"

namespace mlaserve {

void broadcast_step_plan(parallel::Communicator& control, const StepPlan& plan, int root) {
  const std::vector<int64_t> words = encode_step_plan(plan);
  Tensor size = Tensor::empty({1}, DType::kI64);
  size.data<int64_t>()[0] = static_cast<int64_t>(words.size());
  control.broadcast(size, root);
  Tensor payload = Tensor::empty({static_cast<int64_t>(words.size())}, DType::kI64);
  std::memcpy(payload.data<int64_t>(), words.data(), words.size() * sizeof(int64_t));
  control.broadcast(payload, root);
}

StepPlan receive_step_plan(parallel::Communicator& control, int root) {
  Tensor size = Tensor::zeros({1}, DType::kI64);
  control.broadcast(size, root);
  const int64_t n = size.data<int64_t>()[0];
  // 2^28 words (2 GiB) is far beyond any real batch; a bigger size means a corrupt stream.
  MLA_ENSURE(n >= 2 && n <= (int64_t{1} << 28), kDataLoss, "step plan from rank ", root,
             " in group '", control.name(), "': size ", n, " words is not plausible");
  Tensor payload = Tensor::empty({n}, DType::kI64);
  control.broadcast(payload, root);
  return decode_step_plan({payload.data<int64_t>(), static_cast<size_t>(n)});
}

void LeaderStepExecutor::setup_cache(const KvCache& cache) {
  broadcast_step_plan(control_,
                      StepPlan::setup_cache({cache.num_blocks(), cache.block_size(), cache.dtype()}),
                      control_.rank());
}

Tensor LeaderStepExecutor::forward(const ForwardBatch& batch, KvCache& cache) {
  broadcast_step_plan(control_, StepPlan::forward(batch), control_.rank());
  return model_.forward(batch, cache);
}

void LeaderStepExecutor::stop() {
  if (stopped_) return;
  stopped_ = true;
  broadcast_step_plan(control_, StepPlan::stop(), control_.rank());
}

int64_t run_follower(const DeepseekV2Model& model, parallel::Communicator& control, int root,
                     const FollowerStepObserver& observer) {
  std::unique_ptr<KvCache> cache;
  int64_t steps = 0;
  while (true) {
    const StepPlan plan = receive_step_plan(control, root);
    switch (plan.kind) {
      case StepKind::kStop:
        return steps;
      case StepKind::kSetupCache:
        cache = std::make_unique<KvCache>(model.config(), plan.cache.num_blocks,
                                          plan.cache.block_size, plan.cache.dtype);
        break;
      case StepKind::kForward: {
        MLA_ENSURE(cache != nullptr, kFailedPrecondition, "rank ", control.rank(),
                   ": forward plan before any setup-cache plan");
        const auto t0 = std::chrono::steady_clock::now();
        model.forward(plan.as_batch(), *cache);  // logits are the leader's to sample
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ++steps;
        if (observer) observer(plan, seconds);
        break;
      }
    }
  }
}

}  // namespace mlaserve
