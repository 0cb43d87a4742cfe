#include "runtime/engine/block_allocator.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

// Runs `call`, expects an Error with `code` whose message contains `needle`.
template <typename Call>
void expect_error(Call&& call, ErrorCode code, const std::string& needle) {
  try {
    call();
    ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

uint64_t hash_of(uint64_t parent, std::vector<int64_t> tokens) {
  return BlockAllocator::hash_block(parent, tokens.data(), static_cast<int64_t>(tokens.size()));
}

TEST(BlockAllocator, HandsOutLowestFreeBlockFirst) {
  BlockAllocator a(4, 16);
  EXPECT_EQ(a.num_blocks(), 4);
  EXPECT_EQ(a.block_size(), 16);
  EXPECT_TRUE(a.prefix_caching());
  EXPECT_EQ(a.allocate(), 0);
  EXPECT_EQ(a.allocate(), 1);
  EXPECT_EQ(a.allocate(), 2);
  a.release(1);
  a.release(0);
  a.check_invariants();
  EXPECT_EQ(a.allocate(), 0);
  EXPECT_EQ(a.allocate(), 1);
  EXPECT_EQ(a.allocate(), 3);
  a.check_invariants();
}

TEST(BlockAllocator, ExhaustionGivesNulloptAndStatsAddUp) {
  BlockAllocator a(3, 16);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.allocate().has_value());
  EXPECT_EQ(a.num_free(), 0);
  EXPECT_EQ(a.allocate(), std::nullopt);
  BlockAllocatorStats s = a.stats();
  EXPECT_EQ(s.num_blocks, 3);
  EXPECT_EQ(s.in_use, 3);
  EXPECT_EQ(s.free + s.cached_evictable + s.in_use, s.num_blocks);
  a.release(2);
  EXPECT_EQ(a.num_free(), 1);
  EXPECT_EQ(a.allocate(), 2);
  a.check_invariants();
}

TEST(BlockAllocator, RetainSharesUntilLastRelease) {
  BlockAllocator a(2, 16);
  const BlockId b = *a.allocate();
  a.retain(b);
  EXPECT_EQ(a.refcount(b), 2);
  a.release(b);
  EXPECT_EQ(a.refcount(b), 1);
  EXPECT_EQ(a.stats().in_use, 1);
  a.release(b);
  EXPECT_EQ(a.refcount(b), 0);
  EXPECT_EQ(a.stats().free, 2);
  a.check_invariants();
}

TEST(BlockAllocator, ReleasedPublishedBlockIsCachedAndRevivedByLookup) {
  BlockAllocator a(4, 4);
  const uint64_t h = hash_of(0, {1, 2, 3, 4});
  const BlockId b = *a.allocate();
  a.publish(b, h);
  a.release(b);
  BlockAllocatorStats s = a.stats();
  EXPECT_EQ(s.cached_evictable, 1);
  EXPECT_EQ(s.free, 3);
  EXPECT_EQ(a.num_free(), 4);
  a.check_invariants();

  EXPECT_EQ(a.lookup(h), b);
  EXPECT_EQ(a.refcount(b), 1);
  s = a.stats();
  EXPECT_EQ(s.cached_evictable, 0);
  EXPECT_EQ(s.in_use, 1);
  EXPECT_EQ(s.prefix_queries, 1u);
  EXPECT_EQ(s.prefix_hits, 1u);

  EXPECT_EQ(a.lookup(h), b);  // a second sequence shares it
  EXPECT_EQ(a.refcount(b), 2);
  EXPECT_EQ(a.lookup(hash_of(0, {9})), std::nullopt);
  s = a.stats();
  EXPECT_EQ(s.prefix_queries, 3u);
  EXPECT_EQ(s.prefix_hits, 2u);
  a.check_invariants();
}

TEST(BlockAllocator, EvictsLeastRecentlyReleasedCachedBlockOnlyWhenNothingIsFree) {
  BlockAllocator a(3, 1);
  std::vector<BlockId> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(*a.allocate());
    a.publish(ids.back(), hash_of(0, {i}));
  }
  a.release(ids[1]);  // released order: 1, 2, 0 => evicted in that order
  a.release(ids[2]);
  a.release(ids[0]);
  a.check_invariants();
  EXPECT_EQ(a.allocate(), ids[1]);
  EXPECT_EQ(a.lookup(hash_of(0, {1})), std::nullopt);  // its hash went with it
  EXPECT_EQ(a.stats().evictions, 1u);
  // A hit takes block 2 out of the LRU, so block 0 goes next.
  EXPECT_EQ(a.lookup(hash_of(0, {2})), ids[2]);
  EXPECT_EQ(a.allocate(), ids[0]);
  EXPECT_EQ(a.allocate(), std::nullopt);
  EXPECT_EQ(a.stats().evictions, 2u);
  a.check_invariants();
}

TEST(BlockAllocator, FreeBlocksGoBeforeCachedOnes) {
  BlockAllocator a(2, 1);
  const BlockId cached = *a.allocate();
  a.publish(cached, hash_of(0, {7}));
  a.release(cached);
  EXPECT_EQ(a.allocate(), 1);  // the free block, the cached one survives
  EXPECT_EQ(a.lookup(hash_of(0, {7})), cached);
  EXPECT_EQ(a.stats().evictions, 0u);
}

TEST(BlockAllocator, DuplicatePublishStaysPrivateAndIsFreedNotCached) {
  BlockAllocator a(3, 2);
  const uint64_t h = hash_of(0, {5, 6});
  const BlockId first = *a.allocate();
  const BlockId second = *a.allocate();
  a.publish(first, h);
  a.publish(second, h);
  a.publish(first, h);  // republishing under the same hash is a no-op
  EXPECT_EQ(a.lookup(h), first);
  a.release(first);  // from lookup
  a.release(second);
  EXPECT_EQ(a.stats().cached_evictable, 0);
  EXPECT_EQ(a.stats().free, 2);
  a.release(first);
  EXPECT_EQ(a.stats().cached_evictable, 1);
  EXPECT_EQ(a.lookup(h), first);
  a.check_invariants();
}

TEST(BlockAllocator, PublishUnderASecondHashIsABug) {
  BlockAllocator a(1, 2);
  const BlockId b = *a.allocate();
  a.publish(b, hash_of(0, {1, 2}));
  expect_error([&] { a.publish(b, hash_of(0, {3, 4})); }, ErrorCode::kInternal, "block 0");
}

TEST(BlockAllocator, WithoutPrefixCachingEverythingIsPrivate) {
  BlockAllocator a(2, 2, /*prefix_caching=*/false);
  const uint64_t h = hash_of(0, {1, 2});
  const BlockId b = *a.allocate();
  a.publish(b, h);
  a.release(b);
  EXPECT_EQ(a.stats().free, 2);
  EXPECT_EQ(a.lookup(h), std::nullopt);
  EXPECT_EQ(a.stats().prefix_queries, 1u);
  a.check_invariants();
}

TEST(BlockAllocator, HashChainDependsOnParentTokensAndOrder) {
  const uint64_t root = hash_of(0, {1, 2, 3});
  EXPECT_EQ(root, hash_of(0, {1, 2, 3}));
  EXPECT_NE(root, 0u);
  EXPECT_NE(root, hash_of(0, {3, 2, 1}));
  EXPECT_NE(root, hash_of(0, {1, 2, 4}));
  EXPECT_NE(root, hash_of(0, {1, 2}));
  EXPECT_NE(root, hash_of(0, {}));
  const uint64_t child = hash_of(root, {4, 5, 6});
  EXPECT_NE(child, hash_of(0, {4, 5, 6}));
  EXPECT_NE(child, hash_of(hash_of(0, {1, 2, 9}), {4, 5, 6}));
}

TEST(BlockAllocator, ErrorsNameTheBlock) {
  BlockAllocator a(4, 16);
  expect_error([&] { a.release(2); }, ErrorCode::kInternal, "double release of block 2");
  const BlockId b = *a.allocate();
  a.release(b);
  expect_error([&] { a.release(b); }, ErrorCode::kInternal, "double release of block 0");
  expect_error([&] { a.retain(3); }, ErrorCode::kInternal, "retain of block 3");
  expect_error([&] { a.publish(1, 42); }, ErrorCode::kInternal, "publish of block 1");
  expect_error([&] { a.release(4); }, ErrorCode::kInvalidArgument, "block 4 outside [0, 4)");
  expect_error([&] { a.retain(-1); }, ErrorCode::kInvalidArgument, "block -1");
  expect_error([] { BlockAllocator(0, 16); }, ErrorCode::kInvalidArgument, "num_blocks");
  expect_error([] { BlockAllocator(4, 0); }, ErrorCode::kInvalidArgument, "block_size");
  a.check_invariants();  // failed calls leave the state alone
}

TEST(BlockAllocator, RetainOfCachedBlockIsRejectedLookupIsTheWay) {
  BlockAllocator a(2, 1);
  const BlockId b = *a.allocate();
  a.publish(b, hash_of(0, {1}));
  a.release(b);
  expect_error([&] { a.retain(b); }, ErrorCode::kInternal, "cached, evictable");
}

}  // namespace
}  // namespace mlaserve
