#pragma once
// Refcounted latent-cache blocks with prefix caching (issue 5). The allocator only hands out block
// ids; the storage behind them is KvCache (runtime/model/kv_cache.h).
//
// A block is in exactly one of three states:
//   free              refcount 0, holds nothing worth keeping; allocate() prefers these.
//   cached_evictable  refcount 0, published under a prefix hash; lookup() can revive it, and
//                     allocate() evicts the least recently released one when no free block is left.
//   in_use            refcount >= 1, owned by one or more sequences (possibly published too).
//
// Determinism: the same sequence of calls gives the same block ids on every process (lowest free
// block first, LRU order by release order, no addresses or clocks involved), so TP ranks that
// mirror the leader's block tables keep identical caches.
//
// Not thread-safe: the engine's scheduler thread owns it.
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace mlaserve {

using BlockId = int32_t;

struct BlockAllocatorStats {
  int64_t num_blocks = 0, free = 0, cached_evictable = 0, in_use = 0;  // free + cached_evictable + in_use == num_blocks
  uint64_t prefix_queries = 0, prefix_hits = 0, evictions = 0;
};

class BlockAllocator {
 public:
  // num_blocks in [1, 2^31), block_size >= 1; kInvalidArgument otherwise. With prefix_caching
  // false, lookup() always misses and publish() does nothing, so released blocks go straight to
  // the free list.
  BlockAllocator(int64_t num_blocks, int64_t block_size, bool prefix_caching = true);

  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return block_size_; }
  bool prefix_caching() const { return prefix_caching_; }

  // Blocks allocate() can hand out now: free + evictable cached.
  int64_t num_free() const;

  // A block with refcount 1. Takes the lowest free block; when none is free, evicts the least
  // recently released cached block (dropping its hash). nullopt when every block is in use.
  std::optional<BlockId> allocate();

  // Refcount + 1 (sharing a block between sequences). kInternal naming the block when it is not in
  // use (retaining a free or evictable block would resurrect data nobody vouches for; use lookup).
  void retain(BlockId id);

  // Refcount - 1. At 0 a published block becomes evictable (most recently released last in the
  // LRU), any other block becomes free. kInternal naming the block on a double release.
  void release(BlockId id);

  // Prefix caching: a full block is keyed by the hash of its tokens and of everything before it,
  // so equal hashes mean equal prefixes (up to 64-bit collisions, see docs/engine.md).
  // parent_hash is 0 for a sequence's first block. Never returns 0. The same value in every
  // process and run (fixed splitmix64 mixing; absl::Hash is seeded per process, so not that).
  static uint64_t hash_block(uint64_t parent_hash, const int64_t* tokens, int64_t n);

  // Counts a query. A hit retains the block (taking it out of the evictable LRU if it was there)
  // and returns it; the caller owns one reference and must release it.
  std::optional<BlockId> lookup(uint64_t hash);

  // Marks an in-use full block as holding `hash`. If another block already holds the hash, this
  // one stays private (first publisher wins) and is freed, not cached, at refcount 0. Publishing a
  // block again under the hash it already holds is a no-op; under a different hash, kInternal.
  // kInternal naming the block when it is not in use.
  void publish(BlockId id, uint64_t hash);

  // Refcount of a block (0 for free or evictable); kInvalidArgument when out of range.
  int32_t refcount(BlockId id) const;

  BlockAllocatorStats stats() const;

  // Throws kInternal naming the broken invariant (refcounts, lists, hash map agree). O(n): for
  // tests and debug builds, not the hot path.
  void check_invariants() const;

 private:
  static constexpr uint64_t kNoHash = 0;  // hash_block never returns 0
  static constexpr BlockId kNone = -1;

  struct Block {
    int32_t refcount = 0;
    uint64_t hash = kNoHash;  // set only while this block is the one hash_to_block_ names
    BlockId lru_prev = kNone;  // links in the evictable list, while evictable
    BlockId lru_next = kNone;
  };

  void check_id(BlockId id, const char* operation) const;
  void lru_push_back(BlockId id);
  void lru_unlink(BlockId id);
  bool is_evictable(BlockId id) const;

  int64_t num_blocks_;
  int64_t block_size_;
  bool prefix_caching_;
  std::vector<Block> blocks_;
  std::vector<BlockId> free_heap_;  // min-heap: the lowest free block first, deterministic ids
  BlockId lru_head_ = kNone;        // least recently released evictable block
  BlockId lru_tail_ = kNone;        // most recently released
  int64_t num_evictable_ = 0;
  int64_t num_in_use_ = 0;
  absl::flat_hash_map<uint64_t, BlockId> hash_to_block_;
  uint64_t prefix_queries_ = 0, prefix_hits_ = 0, evictions_ = 0;
};

}  // namespace mlaserve
