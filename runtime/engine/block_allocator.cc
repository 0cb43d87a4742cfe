#include "runtime/engine/block_allocator.h"

#include <algorithm>
#include <functional>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

// splitmix64's finalizer: a bijection on 64 bits with full avalanche. Fixed constants (no
// per-process seed, unlike absl::Hash) so a block's hash is the same in every process and run.
uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

}  // namespace

BlockAllocator::BlockAllocator(int64_t num_blocks, int64_t block_size, bool prefix_caching)
    : num_blocks_(num_blocks), block_size_(block_size), prefix_caching_(prefix_caching) {
  MLA_ENSURE(num_blocks > 0 && num_blocks <= INT32_MAX, kInvalidArgument,
             "block allocator: num_blocks must be in [1, 2^31), got ", num_blocks);
  MLA_ENSURE(block_size > 0, kInvalidArgument,
             "block allocator: block_size must be positive, got ", block_size);
  blocks_.resize(static_cast<size_t>(num_blocks));
  // Ascending ids already form a valid min-heap.
  free_heap_.resize(static_cast<size_t>(num_blocks));
  for (int64_t b = 0; b < num_blocks; ++b) free_heap_[b] = static_cast<BlockId>(b);
}

int64_t BlockAllocator::num_free() const {
  return static_cast<int64_t>(free_heap_.size()) + num_evictable_;
}

std::optional<BlockId> BlockAllocator::allocate() {
  BlockId id;
  if (!free_heap_.empty()) {
    std::pop_heap(free_heap_.begin(), free_heap_.end(), std::greater<>());
    id = free_heap_.back();
    free_heap_.pop_back();
  } else if (lru_head_ != kNone) {
    id = lru_head_;
    lru_unlink(id);
    hash_to_block_.erase(blocks_[id].hash);
    blocks_[id].hash = kNoHash;
    ++evictions_;
  } else {
    return std::nullopt;
  }
  blocks_[id].refcount = 1;
  ++num_in_use_;
  return id;
}

void BlockAllocator::retain(BlockId id) {
  check_id(id, "retain");
  Block& block = blocks_[id];
  MLA_ENSURE(block.refcount > 0, kInternal, "block allocator: retain of block ", id,
             " which is not in use (", is_evictable(id) ? "cached, evictable" : "free",
             "); revive cached blocks through lookup()");
  ++block.refcount;
}

void BlockAllocator::release(BlockId id) {
  check_id(id, "release");
  Block& block = blocks_[id];
  MLA_ENSURE(block.refcount > 0, kInternal, "block allocator: double release of block ", id,
             " (refcount already 0)");
  if (--block.refcount > 0) return;
  --num_in_use_;
  if (block.hash != kNoHash) {
    lru_push_back(id);
  } else {
    free_heap_.push_back(id);
    std::push_heap(free_heap_.begin(), free_heap_.end(), std::greater<>());
  }
}

uint64_t BlockAllocator::hash_block(uint64_t parent_hash, const int64_t* tokens, int64_t n) {
  // Each step is a bijection of the running state keyed by the next input, so the result depends
  // on the parent, the count and every token in order.
  uint64_t h = mix64(parent_hash ^ kGolden);
  h = mix64(h ^ static_cast<uint64_t>(n));
  for (int64_t i = 0; i < n; ++i) h = mix64(h ^ mix64(static_cast<uint64_t>(tokens[i]) + kGolden));
  return h == kNoHash ? 1 : h;  // 0 marks "no hash" inside the allocator
}

std::optional<BlockId> BlockAllocator::lookup(uint64_t hash) {
  ++prefix_queries_;
  if (!prefix_caching_ || hash == kNoHash) return std::nullopt;
  auto it = hash_to_block_.find(hash);
  if (it == hash_to_block_.end()) return std::nullopt;
  const BlockId id = it->second;
  Block& block = blocks_[id];
  if (block.refcount == 0) {
    lru_unlink(id);
    ++num_in_use_;
  }
  ++block.refcount;
  ++prefix_hits_;
  return id;
}

void BlockAllocator::publish(BlockId id, uint64_t hash) {
  check_id(id, "publish");
  Block& block = blocks_[id];
  MLA_ENSURE(block.refcount > 0, kInternal, "block allocator: publish of block ", id,
             " which is not in use");
  MLA_ENSURE(hash != kNoHash, kInvalidArgument, "block allocator: publish of block ", id,
             " with hash 0, which hash_block never returns");
  if (!prefix_caching_ || block.hash == hash) return;
  MLA_ENSURE(block.hash == kNoHash, kInternal, "block allocator: block ", id,
             " is already published under another hash");
  // try_emplace keeps an existing entry: the first publisher wins, a duplicate stays private.
  if (hash_to_block_.try_emplace(hash, id).second) block.hash = hash;
}

int32_t BlockAllocator::refcount(BlockId id) const {
  check_id(id, "refcount");
  return blocks_[id].refcount;
}

BlockAllocatorStats BlockAllocator::stats() const {
  BlockAllocatorStats s;
  s.num_blocks = num_blocks_;
  s.free = static_cast<int64_t>(free_heap_.size());
  s.cached_evictable = num_evictable_;
  s.in_use = num_in_use_;
  s.prefix_queries = prefix_queries_;
  s.prefix_hits = prefix_hits_;
  s.evictions = evictions_;
  return s;
}

void BlockAllocator::check_id(BlockId id, const char* operation) const {
  MLA_ENSURE(id >= 0 && id < num_blocks_, kInvalidArgument, "block allocator: ", operation,
             " of block ", id, " outside [0, ", num_blocks_, ")");
}

bool BlockAllocator::is_evictable(BlockId id) const {
  return blocks_[id].refcount == 0 && blocks_[id].hash != kNoHash;
}

void BlockAllocator::lru_push_back(BlockId id) {
  Block& block = blocks_[id];
  block.lru_prev = lru_tail_;
  block.lru_next = kNone;
  if (lru_tail_ != kNone) blocks_[lru_tail_].lru_next = id;
  else lru_head_ = id;
  lru_tail_ = id;
  ++num_evictable_;
}

void BlockAllocator::lru_unlink(BlockId id) {
  Block& block = blocks_[id];
  if (block.lru_prev != kNone) blocks_[block.lru_prev].lru_next = block.lru_next;
  else lru_head_ = block.lru_next;
  if (block.lru_next != kNone) blocks_[block.lru_next].lru_prev = block.lru_prev;
  else lru_tail_ = block.lru_prev;
  block.lru_prev = block.lru_next = kNone;
  --num_evictable_;
}

void BlockAllocator::check_invariants() const {
  auto ensure = [](bool ok, const auto&... parts) {
    if (!ok) fail(ErrorCode::kInternal, "block allocator invariant broken: ", parts...);
  };
  enum class Seen : uint8_t { kNo, kFree, kLru };
  std::vector<Seen> seen(blocks_.size(), Seen::kNo);

  ensure(std::is_heap(free_heap_.begin(), free_heap_.end(), std::greater<>()),
         "free list is not a min-heap");
  for (BlockId id : free_heap_) {
    ensure(id >= 0 && id < num_blocks_, "free list holds out-of-range block ", id);
    ensure(seen[id] == Seen::kNo, "block ", id, " appears twice in the free list");
    seen[id] = Seen::kFree;
    ensure(blocks_[id].refcount == 0, "free block ", id, " has refcount ",
           blocks_[id].refcount);
    ensure(blocks_[id].hash == kNoHash, "free block ", id, " still holds a hash");
  }

  int64_t lru_count = 0;
  BlockId prev = kNone;
  for (BlockId id = lru_head_; id != kNone; id = blocks_[id].lru_next) {
    ensure(id >= 0 && id < num_blocks_, "evictable list holds out-of-range block ", id);
    ensure(seen[id] == Seen::kNo, "block ", id, " is both free and evictable, or a list cycle");
    seen[id] = Seen::kLru;
    ensure(blocks_[id].lru_prev == prev, "evictable block ", id, " has a wrong back link");
    ensure(blocks_[id].refcount == 0, "evictable block ", id, " has refcount ",
           blocks_[id].refcount);
    ensure(blocks_[id].hash != kNoHash, "evictable block ", id, " holds no hash");
    prev = id;
    ++lru_count;
  }
  ensure(prev == lru_tail_, "evictable list tail is ", lru_tail_, ", walk ends at ", prev);
  ensure(lru_count == num_evictable_, "evictable count ", num_evictable_, " but the list has ",
         lru_count);

  int64_t in_use = 0, hashed = 0;
  for (BlockId id = 0; id < num_blocks_; ++id) {
    const Block& block = blocks_[id];
    ensure(block.refcount >= 0, "block ", id, " has negative refcount ", block.refcount);
    if (block.refcount > 0) {
      ++in_use;
      ensure(seen[id] == Seen::kNo, "in-use block ", id, " is on the free or evictable list");
    } else {
      ensure(seen[id] != Seen::kNo, "block ", id, " has refcount 0 but is on no list");
    }
    if (block.hash != kNoHash) {
      ++hashed;
      auto it = hash_to_block_.find(block.hash);
      ensure(it != hash_to_block_.end() && it->second == id, "block ", id,
             " holds a hash the map does not give back to it");
    }
  }
  ensure(in_use == num_in_use_, "in-use count ", num_in_use_, " but ", in_use,
         " blocks have a refcount");
  ensure(hashed == static_cast<int64_t>(hash_to_block_.size()), "hash map has ",
         hash_to_block_.size(), " entries but ", hashed, " blocks hold a hash");
  ensure(prefix_caching_ || hash_to_block_.empty(), "prefix caching is off but blocks hold hashes");
  ensure(static_cast<int64_t>(free_heap_.size()) + num_evictable_ + num_in_use_ == num_blocks_,
         "free + evictable + in use != num_blocks");
  ensure(prefix_hits_ <= prefix_queries_, "more prefix hits than queries");
}

}  // namespace mlaserve
