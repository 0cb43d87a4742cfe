#pragma once
// Continuous batching with chunked prefill, prefix caching on admission and preemption by
// recompute (docs/engine.md "Scheduler"). Each step:
//   1. running sequences, oldest admission first: a decode takes one token, a sequence still
//      prefilling takes the next chunk of its prompt; when a block cannot be had, the most
//      recently admitted running sequence is preempted (blocks freed, back to the front of the
//      waiting queue, all of its tokens to be recomputed) until one can;
//   2. then, if nobody was preempted this step, waiting sequences in FCFS order: full prompt
//      blocks found in the prefix cache are shared, the rest is prefilled in chunks,
// all within max_num_batched_tokens tokens and max_num_seqs running sequences.
// The scheduler owns no sequence (the engine does) and only block ids, never cache storage.
#include <cstdint>
#include <deque>
#include <vector>

#include "runtime/engine/block_allocator.h"
#include "runtime/engine/sequence.h"

namespace mlaserve {

struct SchedulerConfig {
  int64_t max_num_batched_tokens = 2048;  // tokens fed per forward pass, over all sequences
  int64_t max_num_seqs = 256;             // sequences running at once

  void validate() const;  // kInvalidArgument naming the field
};

// Feed seq->tokens[seq->num_computed, + num_tokens) this step.
struct ScheduledChunk {
  Sequence* seq = nullptr;
  int64_t num_tokens = 0;
};

struct SchedulerOutput {
  std::vector<ScheduledChunk> chunks;  // running order: decodes and continuing prefills first
  int64_t num_tokens = 0;
  int64_t num_preempted = 0;           // this step
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, BlockAllocator& blocks);

  void add(Sequence* seq);  // to the back of the waiting queue
  SchedulerOutput schedule();
  // After the forward pass ran `out`: advances num_computed and publishes the blocks that
  // became full (the engine appends sampled tokens afterwards).
  void commit(const SchedulerOutput& out);
  // Takes `seq` out of the queues and releases its blocks (finished or aborted).
  void remove(Sequence* seq);

  // Blocks a sequence of `num_tokens` cached positions needs.
  int64_t blocks_for(int64_t num_tokens) const;

  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  uint64_t num_preemptions() const { return preemptions_; }
  const SchedulerConfig& config() const { return config_; }

 private:
  // Grows seq's block table to cover `num_tokens` positions; false when blocks ran out (the
  // blocks it did get stay in the table).
  bool grow(Sequence& seq, int64_t num_tokens);
  // Shares the cached full blocks of seq's prompt; keeps at least its last token to compute.
  void match_prefix(Sequence& seq);
  void free_blocks(Sequence& seq);
  void preempt(Sequence& seq);
  bool admit(Sequence& seq, int64_t budget, SchedulerOutput& out);

  SchedulerConfig config_;
  BlockAllocator& blocks_;
  std::deque<Sequence*> waiting_;
  std::vector<Sequence*> running_;  // admission order: back() is the latest admitted
  uint64_t admissions_ = 0;
  uint64_t preemptions_ = 0;
};

}  // namespace mlaserve
