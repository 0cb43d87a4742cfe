#include "runtime/engine/scheduler.h"

#include <algorithm>

#include "runtime/core/error.h"

namespace mlaserve {

void SchedulerConfig::validate() const {
  MLA_ENSURE(max_num_batched_tokens >= 1, kInvalidArgument,
             "max_num_batched_tokens must be >= 1, got ", max_num_batched_tokens);
  MLA_ENSURE(max_num_seqs >= 1, kInvalidArgument, "max_num_seqs must be >= 1, got ",
             max_num_seqs);
}

Scheduler::Scheduler(const SchedulerConfig& config, BlockAllocator& blocks)
    : config_(config), blocks_(blocks) {
  config_.validate();
}

int64_t Scheduler::blocks_for(int64_t num_tokens) const {
  return (num_tokens + blocks_.block_size() - 1) / blocks_.block_size();
}

void Scheduler::add(Sequence* seq) { waiting_.push_back(seq); }

bool Scheduler::grow(Sequence& seq, int64_t num_tokens) {
  while (static_cast<int64_t>(seq.block_table.size()) < blocks_for(num_tokens)) {
    const std::optional<BlockId> id = blocks_.allocate();
    if (!id) return false;
    seq.block_table.push_back(*id);
  }
  return true;
}

void Scheduler::free_blocks(Sequence& seq) {
  // Tail first: the allocator evicts the least recently released cached block first, so a
  // prefix's leading blocks (the ones other prompts share) stay cached longest.
  for (auto it = seq.block_table.rbegin(); it != seq.block_table.rend(); ++it) blocks_.release(*it);
  seq.block_table.clear();
  seq.block_hashes.clear();
  seq.num_computed = 0;
}

void Scheduler::preempt(Sequence& seq) {
  // Recompute, not swap: the latents are cheap to recompute from the tokens, and recompute keeps
  // every TP rank's cache a pure function of the step plans.
  running_.erase(std::find(running_.begin(), running_.end(), &seq));
  free_blocks(seq);
  seq.running = false;
  waiting_.push_front(&seq);
  ++preemptions_;
}

void Scheduler::match_prefix(Sequence& seq) {
  if (!blocks_.prefix_caching()) return;
  const int64_t bs = blocks_.block_size();
  // At least the last token is computed again so the forward pass yields logits to sample from.
  const int64_t full = (seq.num_tokens() - 1) / bs;
  uint64_t parent = 0;
  for (int64_t b = 0; b < full; ++b) {
    const uint64_t hash = BlockAllocator::hash_block(parent, seq.tokens.data() + b * bs, bs);
    const std::optional<BlockId> hit = blocks_.lookup(hash);
    if (!hit) break;
    seq.block_table.push_back(*hit);
    seq.block_hashes.push_back(hash);
    parent = hash;
  }
  seq.num_computed = static_cast<int64_t>(seq.block_table.size()) * bs;
}

bool Scheduler::admit(Sequence& seq, int64_t budget, SchedulerOutput& out) {
  match_prefix(seq);
  const int64_t n = std::min(seq.num_pending(), budget);
  if (blocks_for(seq.num_computed + n) - static_cast<int64_t>(seq.block_table.size()) >
      blocks_.num_free()) {
    free_blocks(seq);  // gives the shared prefix blocks back; they stay cached
    return false;
  }
  MLA_INTERNAL_CHECK(grow(seq, seq.num_computed + n));
  seq.running = true;
  seq.admitted_at = admissions_++;
  running_.push_back(&seq);
  out.chunks.push_back({&seq, n});
  out.num_tokens += n;
  return true;
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int64_t budget = config_.max_num_batched_tokens;
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    Sequence& seq = *running_[i];
    const int64_t n = std::min(seq.num_pending(), budget);
    bool preempted_self = false;
    while (!grow(seq, seq.num_computed + n)) {
      Sequence& victim = *running_.back();  // the latest admitted; never one scheduled already
      preempted_self = &victim == &seq;
      preempt(victim);
      ++out.num_preempted;
      if (preempted_self) break;
    }
    if (preempted_self) break;
    out.chunks.push_back({&seq, n});
    out.num_tokens += n;
    budget -= n;
  }
  // Admitting while preempting would only thrash: the blocks just freed belong to the preempted.
  if (out.num_preempted > 0) return out;
  while (!waiting_.empty() && budget > 0 && num_running() < config_.max_num_seqs) {
    Sequence& seq = *waiting_.front();
    if (!admit(seq, budget, out)) break;
    waiting_.pop_front();
    budget -= out.chunks.back().num_tokens;
  }
  return out;
}

void Scheduler::commit(const SchedulerOutput& out) {
  const int64_t bs = blocks_.block_size();
  for (const ScheduledChunk& c : out.chunks) {
    Sequence& seq = *c.seq;
    seq.num_computed += c.num_tokens;
    if (!blocks_.prefix_caching()) continue;
    // Publish every block that is now full and computed, chaining each hash on the previous.
    for (int64_t b = static_cast<int64_t>(seq.block_hashes.size()); (b + 1) * bs <= seq.num_computed; ++b) {
      const uint64_t parent = b == 0 ? 0 : seq.block_hashes[b - 1];
      const uint64_t hash = BlockAllocator::hash_block(parent, seq.tokens.data() + b * bs, bs);
      blocks_.publish(seq.block_table[b], hash);
      seq.block_hashes.push_back(hash);
    }
  }
}

void Scheduler::remove(Sequence* seq) {
  if (seq->running) {
    running_.erase(std::find(running_.begin(), running_.end(), seq));
  } else if (auto it = std::find(waiting_.begin(), waiting_.end(), seq); it != waiting_.end()) {
    waiting_.erase(it);
  }
  free_blocks(*seq);
  seq->running = false;
}

}  // namespace mlaserve
