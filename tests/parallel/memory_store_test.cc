#include "parallel/memory_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "parallel/prefix_store.h"
#include "runtime/core/error.h"

namespace mlaserve::parallel {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

TEST(MemoryStore, GetReturnsWhatWasSet) {
  MemoryStore store;
  store.set("a", bytes("one"));
  EXPECT_EQ(store.get("a", 10ms), bytes("one"));
  store.set("a", bytes("two"));
  EXPECT_EQ(store.get("a", 10ms), bytes("two"));
}

TEST(MemoryStore, GetBlocksUntilAnotherThreadSets) {
  MemoryStore store;
  std::thread writer([&] {
    std::this_thread::sleep_for(50ms);
    store.set("late", bytes("x"));
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(store.get("late", 5s), bytes("x"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  writer.join();
}

TEST(MemoryStore, GetPastDeadlineNamesTheKey) {
  MemoryStore store;
  const auto start = std::chrono::steady_clock::now();
  try {
    store.get("never", 100ms);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded);
    EXPECT_THAT(e.what(), HasSubstr("'never'"));
    EXPECT_THAT(e.what(), HasSubstr("100 ms"));
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 100ms);
  EXPECT_LT(elapsed, 1s);
}

TEST(MemoryStore, WaitNamesOnlyTheMissingKeys) {
  MemoryStore store;
  store.set("here", bytes(""));
  store.wait({"here"}, 0ms);
  try {
    store.wait({"here", "gone1", "gone2"}, 20ms);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded);
    EXPECT_THAT(e.what(), HasSubstr("'gone1', 'gone2'"));
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("'here'")));
  }
}

TEST(MemoryStore, ACancelledWaitGivesUpEarly) {
  MemoryStore store;
  std::atomic<bool> cancelled{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    cancelled = true;
  });
  const auto start = std::chrono::steady_clock::now();
  try {
    store.get("never", 30s, [&] { return cancelled.load(); });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCancelled);
    EXPECT_THAT(e.what(), HasSubstr("'never'"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  canceller.join();
  store.set("here", {});
  store.wait({"here"}, 0ms, [] { return true; });  // present keys win over cancellation
}

TEST(MemoryStore, AddIsAnAtomicCounterAcrossThreads) {
  MemoryStore store;
  EXPECT_EQ(store.add("n", 5), 5);
  EXPECT_EQ(store.add("n", -2), 3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) store.add("c", 1);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(store.add("c", 0), 8000);
  EXPECT_EQ(store.get("c", 0ms), bytes("8000"));
  store.set("text", bytes("abc"));
  EXPECT_THROW(store.add("text", 1), Error);
}

TEST(MemoryStore, AddWakesWaiters) {
  // A barrier built from add + wait, as ranks use it.
  MemoryStore store;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      if (store.add("arrived", 1) == 4) store.set("all_arrived", {});
      store.wait({"all_arrived"}, 5s);
    });
  for (auto& t : threads) t.join();
}

TEST(PrefixStore, KeepsGroupsApartAndNamesTheFullKey) {
  auto base = std::make_shared<MemoryStore>();
  PrefixStore a("jobA", base), b("jobB", base);
  a.set("k", bytes("a"));
  b.set("k", bytes("b"));
  EXPECT_EQ(a.get("k", 0ms), bytes("a"));
  EXPECT_EQ(base->get("jobB/k", 0ms), bytes("b"));
  EXPECT_EQ(a.add("n", 2), 2);
  try {
    a.get("missing", 10ms);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'jobA/missing'"));
  }
}

}  // namespace
}  // namespace mlaserve::parallel
