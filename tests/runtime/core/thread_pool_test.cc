#include "runtime/core/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

TEST(ThreadPool, CoversEveryIndexOnceWithGrainAlignedChunks) {
  for (int threads : {1, 2, 3, 7}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 5, 63, 64, 65, 1000}) {
      for (int64_t grain : {1, 3, 64, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> calls{0};
        pool.parallel_for(10, 10 + n, grain, [&](int64_t b, int64_t e) {
          calls.fetch_add(1);
          // Every chunk starts at begin + a multiple of grain: kernels rely on it for panels.
          EXPECT_EQ((b - 10) % grain, 0) << "n=" << n << " grain=" << grain;
          EXPECT_LT(b, e);
          for (int64_t i = b; i < e; ++i) hits[i - 10].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << i;
        EXPECT_LE(calls.load(), threads);
        if (n == 0) EXPECT_EQ(calls.load(), 0);
      }
    }
  }
}

TEST(ThreadPool, UnevenSplitCoversEveryIndexOnceInAtMostEightChunksPerThread) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 7, 16, 17, 100}) {
      for (int64_t grain : {1, 4}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> calls{0};
        pool.parallel_for_uneven(0, n, grain, [&](int64_t b, int64_t e) {
          calls.fetch_add(1);
          EXPECT_EQ(b % grain, 0) << "n=" << n << " grain=" << grain;
          EXPECT_LT(b, e);
          for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << i;
        const int64_t units = (n + grain - 1) / grain;
        const int64_t max_chunks = threads == 1 ? 1 : threads * ThreadPool::kUnevenChunksPerThread;
        EXPECT_LE(calls.load(), std::min(units, max_chunks)) << "n=" << n << " threads=" << threads;
        // With several threads and enough work it really splits finer than one chunk per thread.
        if (threads > 1 && units >= max_chunks) EXPECT_GT(calls.load(), threads);
      }
    }
  }
}

TEST(ThreadPool, WorkersTakePart) {
  ThreadPool pool(2);
  std::atomic<int> by_worker{0};
  const auto caller = std::this_thread::get_id();
  for (int rep = 0; rep < 200 && by_worker.load() == 0; ++rep) {
    pool.parallel_for(0, 2, 1, [&](int64_t, int64_t) {
      if (std::this_thread::get_id() != caller) by_worker.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    });
  }
  EXPECT_GT(by_worker.load(), 0);
}

TEST(ThreadPool, RethrowsTheFirstErrorAndStaysUsable) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(0, 100, 1,
                                 [](int64_t b, int64_t) {
                                   if (b > 0) fail(ErrorCode::kInternal, "worker chunk failed");
                                 }),
               Error);
  std::atomic<int64_t> sum{0};
  pool.parallel_for(0, 100, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 4950);
}

TEST(ThreadPool, NestedCallsRunInline) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  pool.parallel_for(0, 4, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      pool.parallel_for(0, 10, 1, [&](int64_t bb, int64_t ee) {
        for (int64_t j = bb; j < ee; ++j) sum += j;
      });
  });
  EXPECT_EQ(sum.load(), 4 * 45);
}

TEST(ThreadPool, ConcurrentCallersAndManyTinyCalls) {
  ThreadPool pool(2);
  auto work = [&](int64_t* out) {
    int64_t total = 0;
    for (int rep = 0; rep < 3000; ++rep) {
      std::atomic<int64_t> s{0};
      pool.parallel_for(0, 16, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) s += i;
      });
      total += s.load();
    }
    *out = total;
  };
  int64_t a = 0, b = 0;
  std::thread other(work, &b);
  work(&a);
  other.join();
  EXPECT_EQ(a, 3000 * 120);
  EXPECT_EQ(b, 3000 * 120);
}

TEST(ThreadPool, GlobalPoolCanBeResized) {
  ThreadPool::set_global_num_threads(3);
  EXPECT_EQ(ThreadPool::global().num_threads(), 3);
  std::atomic<int64_t> n{0};
  parallel_for(0, 1000, 10, [&](int64_t b, int64_t e) { n += e - b; });
  EXPECT_EQ(n.load(), 1000);
  ThreadPool::set_global_num_threads(1);
  EXPECT_EQ(ThreadPool::global().num_threads(), 1);
  EXPECT_THROW(ThreadPool(0), Error);
}

}  // namespace
}  // namespace mlaserve
