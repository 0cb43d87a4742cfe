#include "runtime/core/thread_pool.h"

#include <immintrin.h>

#include <chrono>
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

// The job word packs a sequence number with the chunk count, so a worker learns from one atomic
// load whether it has a chunk, without touching job fields the caller may already be rewriting.
constexpr uint64_t kChunkBits = 20;
constexpr uint64_t kChunkMask = (uint64_t{1} << kChunkBits) - 1;

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
  alignas(64) std::atomic<uint64_t> word{0};  // (sequence << kChunkBits) | chunk count
  alignas(64) std::atomic<int> pending{0};    // chunks run by workers, not yet finished
  alignas(64) std::atomic<int> sleepers{0};
  std::atomic<bool> caller_sleeping{false};
  std::atomic<bool> stop{false};
  Job job;
  std::mutex error_mutex;
  std::exception_ptr error;
};

ThreadPool::ThreadPool(int num_threads) : num_threads_(num_threads), shared_(new Shared) {
  MLA_ENSURE(num_threads >= 1 && static_cast<uint64_t>(num_threads) <= kChunkMask,
             kInvalidArgument, "thread pool size ", num_threads, " out of range");
  workers_.reserve(num_threads - 1);
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  shared_->stop.store(true);
  shared_->word.fetch_add(uint64_t{1} << kChunkBits);
  shared_->word.notify_all();
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

void ThreadPool::worker_loop(int index) {
  t_inside_pool = true;
  Shared& s = *shared_;
  uint64_t seen = s.word.load(std::memory_order_acquire);
  for (;;) {
    uint64_t w = s.word.load(std::memory_order_acquire);
    if (w == seen) {
      auto deadline = std::chrono::steady_clock::now() + kSpinTime;
      for (int i = 0; (w = s.word.load(std::memory_order_acquire)) == seen; ++i) {
        _mm_pause();
        if ((i & 255) == 255 && std::chrono::steady_clock::now() > deadline) {
          s.sleepers.fetch_add(1);  // seq_cst: pairs with the caller's word update
          s.word.wait(seen);
          s.sleepers.fetch_sub(1);
        }
      }
    }
    seen = w;
    if (s.stop.load()) return;
    if (index < static_cast<int>(w & kChunkMask)) {
      run_chunk(s.job, index);
      if (s.pending.fetch_sub(1) == 1 && s.caller_sleeping.load())  // seq_cst both
        s.pending.notify_one();
    }
  }
}

void ThreadPool::run(int64_t begin, int64_t end, int64_t grain, RangeFn fn) {
  if (end <= begin) return;
  if (grain < 1) grain = 1;
  const int64_t n = end - begin;
  const int64_t units = (n + grain - 1) / grain;
  int64_t chunks = std::min<int64_t>(num_threads_, units);
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
  s.error = nullptr;
  s.pending.store(static_cast<int>(chunks - 1), std::memory_order_relaxed);

  const uint64_t seq = (s.word.load(std::memory_order_relaxed) >> kChunkBits) + 1;
  s.word.store((seq << kChunkBits) | static_cast<uint64_t>(chunks));  // seq_cst
  if (s.sleepers.load() > 0) s.word.notify_all();

  t_inside_pool = true;
  run_chunk(job, 0);
  t_inside_pool = false;

  auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (int i = 0;; ++i) {
    int p = s.pending.load(std::memory_order_acquire);
    if (p == 0) break;
    _mm_pause();
    if ((i & 255) == 255 && std::chrono::steady_clock::now() > deadline) {
      s.caller_sleeping.store(true);
      p = s.pending.load();
      if (p != 0) s.pending.wait(p);
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
