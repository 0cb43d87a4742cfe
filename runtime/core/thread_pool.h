#pragma once
// A persistent pool of worker threads for data-parallel loops. Decode calls parallel_for hundreds
// of times per step, so a call must cost microseconds: idle workers spin briefly before they
// sleep, and every thread — the caller included — claims chunks from one atomic word, so on a
// busy machine a worker that is slow to wake costs nothing: the caller does its chunk instead.
//
// Determinism: parallel_for only decides *which thread* runs a chunk. Kernels must compute each
// output element entirely inside one fn(begin, end) call with an order that does not depend on
// the chunk bounds; then results are bitwise identical for any thread count.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace mlaserve {

// A non-owning reference to a callable void(int64_t, int64_t): no allocation, one indirect call.
class RangeFn {
 public:
  template <typename F>
  RangeFn(F& f)  // NOLINT: implicit on purpose, binds lambdas at the call site
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, int64_t b, int64_t e) { (*static_cast<F*>(o))(b, e); }) {}
  void operator()(int64_t begin, int64_t end) const { call_(obj_, begin, end); }

 private:
  void* obj_;
  void (*call_)(void*, int64_t, int64_t);
};

class ThreadPool {
 public:
  // num_threads counts the caller: 1 means no worker threads (everything runs inline).
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Splits [begin, end) into at most num_threads() contiguous chunks of at least `grain`
  // elements (the last may be shorter; chunk bounds are begin + multiples of grain) and calls
  // fn(chunk_begin, chunk_end) once per chunk on whichever thread claims it first. Returns when all chunks are done. Exceptions thrown by fn are
  // rethrown in the caller (the first one). A call made from inside fn, or while another thread
  // is using the pool, runs inline on the calling thread.
  template <typename F>
  void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& fn) {
    run(begin, end, grain, RangeFn(fn));
  }
  // The same, for work whose cost varies a lot between elements (experts with different token
  // counts, attention over different context lengths): up to kUnevenChunksPerThread chunks per
  // thread, claimed first come first served, so a thread that drew cheap elements takes more.
  template <typename F>
  void parallel_for_uneven(int64_t begin, int64_t end, int64_t grain, F&& fn) {
    run(begin, end, grain, RangeFn(fn), kUnevenChunksPerThread);
  }
  static constexpr int64_t kUnevenChunksPerThread = 8;
  void run(int64_t begin, int64_t end, int64_t grain, RangeFn fn, int64_t chunks_per_thread = 1);

  // The process-wide pool: MLASERVE_NUM_THREADS if set (>= 1), else hardware_concurrency().
  static ThreadPool& global();
  // Replaces the global pool with one of `num_threads` threads (tests, benchmarks, the worker's
  // --threads flag). Must not race with calls that use the global pool.
  static void set_global_num_threads(int num_threads);

 private:
  struct Job;
  void worker_loop(int index);
  void run_claimed(uint64_t seq);
  void run_chunk(const Job& job, int chunk);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex busy_;  // one parallel_for at a time; others run inline
  struct Shared;
  std::unique_ptr<Shared> shared_;
};

// Shorthand for ThreadPool::global().parallel_for(...).
template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& fn) {
  ThreadPool::global().parallel_for(begin, end, grain, std::forward<F>(fn));
}
template <typename F>
void parallel_for_uneven(int64_t begin, int64_t end, int64_t grain, F&& fn) {
  ThreadPool::global().parallel_for_uneven(begin, end, grain, std::forward<F>(fn));
}

}  // namespace mlaserve
