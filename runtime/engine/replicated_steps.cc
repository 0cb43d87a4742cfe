#include "runtime/engine/replicated_steps.h"

#include <chrono>
#include <cstring>
#include <memory>

#include "runtime/core/error.h"

namespace mlaserve {

namespace {

// The first broadcast of every plan is this many words: the plan's size, then the plan itself
// when it fits (every decode step of a moderate batch does), so most steps cost one broadcast,
// not two. Larger plans follow in a second broadcast of exactly their size.
constexpr int64_t kFirstMessageWords = 512;

}  // namespace

void broadcast_step_plan(parallel::Communicator& control, const StepPlan& plan, int root) {
  const std::vector<int64_t> words = encode_step_plan(plan);
  const int64_t n = static_cast<int64_t>(words.size());
  Tensor first = Tensor::zeros({kFirstMessageWords}, DType::kI64);
  first.data<int64_t>()[0] = n;
  const bool inline_plan = n < kFirstMessageWords;
  if (inline_plan) std::memcpy(first.data<int64_t>() + 1, words.data(), n * sizeof(int64_t));
  control.broadcast(first, root);
  if (inline_plan) return;
  Tensor payload = Tensor::empty({n}, DType::kI64);
  std::memcpy(payload.data<int64_t>(), words.data(), n * sizeof(int64_t));
  control.broadcast(payload, root);
}

StepPlan receive_step_plan(parallel::Communicator& control, int root) {
  Tensor first = Tensor::zeros({kFirstMessageWords}, DType::kI64);
  control.broadcast(first, root);
  const int64_t n = first.data<int64_t>()[0];
  // 2^28 words (2 GiB) is far beyond any real batch; a bigger size means a corrupt stream.
  MLA_ENSURE(n >= 2 && n <= (int64_t{1} << 28), kDataLoss, "step plan from rank ", root,
             " in group '", control.name(), "': size ", n, " words is not plausible");
  if (n < kFirstMessageWords)
    return decode_step_plan({first.data<int64_t>() + 1, static_cast<size_t>(n)});
  Tensor payload = Tensor::empty({n}, DType::kI64);
  control.broadcast(payload, root);
  return decode_step_plan({payload.data<int64_t>(), static_cast<size_t>(n)});
}

void LeaderStepExecutor::setup_cache(const KvCache& cache) {
  const CacheGeometry geometry{cache.num_blocks(), cache.block_size(), cache.dtype()};
  broadcast_step_plan(control_, StepPlan::setup_cache(geometry), control_.rank());
}

Tensor LeaderStepExecutor::forward(const ForwardBatch& batch, KvCache& cache) {
  broadcast_step_plan(control_, StepPlan::forward(batch), control_.rank());
  return model_.forward(batch, cache);
}

void LeaderStepExecutor::keep_alive() {
  MLA_INTERNAL_CHECK(!stopped_);
  broadcast_step_plan(control_, StepPlan::keep_alive(), control_.rank());
}

void LeaderStepExecutor::stop() {
  if (stopped_) return;
  stopped_ = true;
  broadcast_step_plan(control_, StepPlan::stop(), control_.rank());
}

int64_t run_follower(const DeepseekV2Model& model, parallel::Communicator& control, int root,
                     const FollowerStepObserver& observer, uint64_t* cache_checksum) {
  std::unique_ptr<KvCache> cache;
  int64_t steps = 0;
  while (true) {
    const StepPlan plan = receive_step_plan(control, root);
    switch (plan.kind) {
      case StepKind::kStop:
        if (cache_checksum) *cache_checksum = cache ? cache->checksum() : 0;
        return steps;
      case StepKind::kKeepAlive:
        break;
      case StepKind::kSetupCache:
        cache = std::make_unique<KvCache>(model.config(), plan.cache.num_blocks,
                                          plan.cache.block_size, plan.cache.dtype,
                                          model.device());
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
