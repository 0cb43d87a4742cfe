#include "runtime/core/thread_pool.h"

#include <immintrin.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <string>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

// How long an idle worker keeps polling before it sleeps. Decode issues a parallel_for every few
// microseconds, so workers rarely reach the futex; an idle server stops burning CPU after this.
constexpr auto kSpinTime = std::chrono::microseconds(200);

// Set on worker threads and on a caller while it runs its own chunk: nested calls run inline.
thread_local bool t_inside_pool = false;

// The claim word packs (sequence, chunk count, next unclaimed chunk) into one atomic, so a
// thread claims a chunk with one CAS that also proves the job is still the one it saw: a late
// worker can never take a chunk of a newer job, nor read job fields being rewritten.
constexpr int kSeqShift = 32;
constexpr int kCountShift = 16;
constexpr uint64_t kField = 0xffff;
uint64_t seq_of(uint64_t w) { return w >> kSeqShift; }
uint64_t count_of(uint64_t w) { return (w >> kCountShift) & kField; }
uint64_t next_of(uint64_t w) { return w & kField; }

int threads_from_env() {
  if (const char* v = std::getenv("MLASERVE_NUM_THREADS"); v != nullptr && *v != '\0') {
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    MLA_ENSURE(end != v && *end == '\0' && n >= 1 && n <= 4096, kInvalidArgument,
               "MLASERVE_NUM_THREADS='", v, "' is not a thread count in [1, 4096]");
    return static_cast<int>(n);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

std::unique_ptr<ThreadPool>& global_slot() {
  static std::unique_ptr<ThreadPool> pool;
  return pool;
}
std::once_flag g_global_once;

}  // namespace

struct ThreadPool::Job {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t chunk = 0;  // elements per chunk, a multiple of grain
  const RangeFn* fn = nullptr;
};

struct ThreadPool::Shared {
  alignas(64) std::atomic<uint64_t> claim{0};  // (sequence, chunks, next chunk)
  alignas(64) std::atomic<int> finished{0};    // chunks of the current job completed
  alignas(64) std::atomic<int> sleepers{0};
  std::atomic<bool> caller_sleeping{false};
  std::atomic<bool> stop{false};
  // Sleeping is off the hot path (only after kSpinTime idle), so a plain mutex + condition
  // variable is enough; the sleepers / caller_sleeping flags let posters skip the lock.
  std::mutex sleep_mutex;
  std::condition_variable work_cv;
  std::condition_variable done_cv;
  Job job;
  int chunks = 0;
  std::mutex error_mutex;
  std::exception_ptr error;
};

ThreadPool::ThreadPool(int num_threads) : num_threads_(num_threads), shared_(new Shared) {
  MLA_ENSURE(num_threads >= 1 && static_cast<uint64_t>(num_threads) <= kField,
             kInvalidArgument, "thread pool size ", num_threads, " out of range");
  workers_.reserve(num_threads - 1);
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  shared_->stop.store(true);
  {
    std::lock_guard<std::mutex> lock(shared_->sleep_mutex);
    shared_->claim.fetch_add(uint64_t{1} << kSeqShift);
  }
  shared_->work_cv.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunk(const Job& job, int chunk) {
  const int64_t b = job.begin + chunk * job.chunk;
  const int64_t e = std::min(job.end, b + job.chunk);
  try {
    (*job.fn)(b, e);
  } catch (...) {
    std::lock_guard<std::mutex> lock(shared_->error_mutex);
    if (!shared_->error) shared_->error = std::current_exception();
  }
}

// Claims and runs chunks of job `seq` until none is left (or a newer job replaced it).
void ThreadPool::run_claimed(uint64_t seq) {
  Shared& s = *shared_;
  uint64_t w = s.claim.load(std::memory_order_acquire);
  for (;;) {
    if (seq_of(w) != seq || next_of(w) >= count_of(w)) return;
    if (!s.claim.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel,
                                       std::memory_order_acquire))
      continue;
    run_chunk(s.job, static_cast<int>(next_of(w)));
    if (s.finished.fetch_add(1) + 1 == s.chunks && s.caller_sleeping.load()) {  // seq_cst
      std::lock_guard<std::mutex> lock(s.sleep_mutex);
      s.done_cv.notify_all();
    }
    w = s.claim.load(std::memory_order_acquire);
  }
}

void ThreadPool::worker_loop(int) {
  t_inside_pool = true;
  Shared& s = *shared_;
  uint64_t seen = 0;  // the initial sequence: a job posted before this thread ran is still new
  for (;;) {
    uint64_t w = s.claim.load(std::memory_order_acquire);
    if (seq_of(w) == seen) {
      auto deadline = std::chrono::steady_clock::now() + kSpinTime;
      for (int i = 0; seq_of(w = s.claim.load(std::memory_order_acquire)) == seen; ++i) {
        _mm_pause();
        if ((i & 255) == 255 && std::chrono::steady_clock::now() > deadline) {
          std::unique_lock<std::mutex> lock(s.sleep_mutex);
          s.sleepers.fetch_add(1);  // seq_cst: pairs with the caller's claim store
          s.work_cv.wait(lock, [&] { return seq_of(s.claim.load()) != seen; });
          s.sleepers.fetch_sub(1);
        }
      }
    }
    seen = seq_of(w);
    if (s.stop.load()) return;
    run_claimed(seen);
  }
}

void ThreadPool::run(int64_t begin, int64_t end, int64_t grain, RangeFn fn,
                     int64_t chunks_per_thread) {
  if (end <= begin) return;
  if (grain < 1) grain = 1;
  const int64_t n = end - begin;
  const int64_t units = (n + grain - 1) / grain;
  if (num_threads_ <= 1) chunks_per_thread = 1;
  int64_t chunks = std::min<int64_t>(num_threads_ * std::max<int64_t>(chunks_per_thread, 1), units);
  if (chunks <= 1 || t_inside_pool) {
    fn(begin, end);
    return;
  }
  std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
  if (!lock.owns_lock()) {
    fn(begin, end);
    return;
  }
  Shared& s = *shared_;
  Job& job = s.job;
  job.begin = begin;
  job.end = end;
  job.chunk = (units + chunks - 1) / chunks * grain;
  chunks = (n + job.chunk - 1) / job.chunk;
  job.fn = &fn;
  s.chunks = static_cast<int>(chunks);
  s.error = nullptr;
  s.finished.store(0, std::memory_order_relaxed);

  const uint64_t seq = seq_of(s.claim.load(std::memory_order_relaxed)) + 1;
  s.claim.store((seq << kSeqShift) | (static_cast<uint64_t>(chunks) << kCountShift));  // seq_cst
  if (s.sleepers.load() > 0) {
    std::lock_guard<std::mutex> lock(s.sleep_mutex);
    s.work_cv.notify_all();
  }

  // The caller claims chunks too: when workers are slow to start (an oversubscribed machine),
  // it simply does the work itself instead of waiting for them.
  t_inside_pool = true;
  run_claimed(seq);
  t_inside_pool = false;

  auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (int i = 0; s.finished.load(std::memory_order_acquire) != s.chunks; ++i) {
    _mm_pause();
    if ((i & 255) == 255 && std::chrono::steady_clock::now() > deadline) {
      std::unique_lock<std::mutex> lock(s.sleep_mutex);
      s.caller_sleeping.store(true);
      s.done_cv.wait(lock, [&] { return s.finished.load() == s.chunks; });
      s.caller_sleeping.store(false);
    }
  }
  if (s.error) {
    std::exception_ptr e = s.error;
    s.error = nullptr;
    std::rethrow_exception(e);
  }
}

ThreadPool& ThreadPool::global() {
  std::call_once(g_global_once, [] {
    if (!global_slot()) global_slot() = std::make_unique<ThreadPool>(threads_from_env());
  });
  return *global_slot();
}

void ThreadPool::set_global_num_threads(int num_threads) {
  std::call_once(g_global_once, [] {});
  if (global_slot() && global_slot()->num_threads() == num_threads) return;
  global_slot().reset();
  global_slot() = std::make_unique<ThreadPool>(num_threads);
}

}  // namespace mlaserve
