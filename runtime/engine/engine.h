#pragma once
// The Engine a replica's leader runs (DESIGN "One decode step"): requests in, per-step outputs
// out. Each step() asks the Scheduler for a batch, runs one forward pass through a StepExecutor
// (LocalStepExecutor in one process; LeaderStepExecutor on a TP leader, whose step plans carry
// the block tables so every rank's cache stays identical), samples every sequence that fed its
// last token and reports what changed. Not thread-safe: one thread drives it.
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "runtime/engine/block_allocator.h"
#include "runtime/engine/request.h"
#include "runtime/engine/scheduler.h"
#include "runtime/engine/sequence.h"
#include "runtime/engine/step_executor.h"
#include "runtime/model/deepseek_v2.h"
#include "runtime/model/kv_cache.h"

namespace mlaserve {

struct EngineConfig {
  // Latent-cache blocks (the KV budget, see cache_budget.h). On a GPU the number is checked
  // against gpu_memory_utilization before anything is allocated, and 0 means "every block that
  // fits under it" (gpu_memory_plan.h); on the CPU it must be positive.
  int64_t num_blocks = 0;
  double gpu_memory_utilization = 0.9;  // share of the GPU for weights + cache + workspace
  int64_t block_size = KvCache::kDefaultBlockSize;
  DType cache_dtype = DType::kF32;
  bool prefix_caching = true;
  SchedulerConfig scheduler;
};

struct EngineStats {
  int64_t running = 0, waiting = 0;
  uint64_t preemptions = 0;
  double cache_usage = 0;      // blocks in use by sequences / all blocks
  double prefix_hit_rate = 0;  // prefix-cache lookups that hit (0 when none were made)
  uint64_t prompt_tokens = 0;     // tokens submitted in prompts
  uint64_t generated_tokens = 0;  // tokens sampled
  uint64_t computed_tokens = 0;   // tokens fed to forward passes (recomputes included)
  uint64_t steps = 0;
  BlockAllocatorStats blocks;
};

// How the last step() spent its time (for `bench throughput`).
struct StepTiming {
  int64_t num_seqs = 0, num_tokens = 0;
  bool decode_only = false;  // every sequence fed exactly one token
  double seconds = 0;        // the whole step()
  double forward_seconds = 0;
};

class Engine {
 public:
  // The cache (config.num_blocks blocks) is allocated here; the executor learns its geometry at
  // the first step(), so requests can be validated before any follower sees a plan.
  Engine(const DeepseekV2Model& model, StepExecutor& executor, const EngineConfig& config);

  // kInvalidArgument naming the field: empty prompt, token outside the vocabulary, max_tokens
  // < 1, prompt + max_tokens beyond max_position_embeddings, bad sampling, negative
  // top_logprobs, a stop token outside the vocabulary; kFailedPrecondition for an id in use.
  // A request that could never fit in the whole cache is accepted and finishes at the next
  // step() with finish_reason "error" naming the blocks it needs.
  void add_request(RequestId id, EngineRequest request);
  // Frees the request's blocks at once; the next step() reports it finished with "abort".
  // False when no unfinished request has this id.
  bool abort(RequestId id);

  // One forward of a single token (through the executor, so every rank of the replica runs it)
  // and the sampling ops on its logits, on a cache block taken and given back at once: pays the
  // first step's one-time costs (weight pages, thread pool, collectives' connections; on a GPU
  // kernel loading and cuBLAS / cub workspaces) before the replica reports ready. Leaves no
  // request, no stats and no cached prefix behind. kFailedPrecondition while requests are unfinished.
  void warm_up();

  // One scheduling + forward step. Outputs for the requests that generated a token or finished.
  std::vector<RequestOutput> step();
  bool has_unfinished() const { return !sequences_.empty() || !pending_.empty(); }

  EngineStats stats() const;
  const StepTiming& last_step() const { return last_step_; }
  // The config in force: on a GPU num_blocks is what --gpu-memory-utilization gave.
  const EngineConfig& config() const { return config_; }
  const KvCache& cache() const { return cache_; }
  const BlockAllocator& allocator() const { return blocks_; }

 private:
  void validate(const EngineRequest& r) const;
  // Appends seq's sampled token (to seq and out); true when that finished the request.
  bool accept(Sequence& seq, int64_t token, RequestOutput& out);
  void finish(Sequence& seq);

  const DeepseekV2Model& model_;
  StepExecutor& executor_;
  EngineConfig config_;
  KvCache cache_;
  BlockAllocator blocks_;
  Scheduler scheduler_;
  bool cache_announced_ = false;
  std::unordered_map<RequestId, std::unique_ptr<Sequence>> sequences_;
  std::vector<RequestOutput> pending_;  // finished outside step(): aborts, rejections
  EngineStats totals_;
  StepTiming last_step_;
};

}  // namespace mlaserve
