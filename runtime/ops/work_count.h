#pragma once
// Work the ops of a forward step actually did — FLOPs of the shapes computed and bytes of
// weights read — counted by the ops themselves, so a benchmark's GFLOP/s and effective
// bandwidth follow whatever the model code really ran (only the routed experts that got tokens,
// with their real token counts). Counting is per thread and off unless a CountWork is alive on
// the calling thread; ops count on the thread that called them, before dispatching to the pool.
// Code that runs ops on pool threads (MoE experts) passes the count along with current_work().
#include <atomic>
#include <cstdint>

namespace mlaserve::ops {

struct WorkCount {
  std::atomic<double> flops{0};         // 2·m·n·k per linear, plus attention's dot products
  std::atomic<double> weight_bytes{0};  // each weight tensor an op read, once per op call
};

// While alive, ops called on this thread add their work to `count` (none if null). Scopes nest
// (the inner one wins until it ends).
class CountWork {
 public:
  explicit CountWork(WorkCount* count);
  explicit CountWork(WorkCount& count) : CountWork(&count) {}
  ~CountWork();
  CountWork(const CountWork&) = delete;
  CountWork& operator=(const CountWork&) = delete;

 private:
  WorkCount* previous_;
};

// The count active on this thread, or null.
WorkCount* current_work();

// Called by ops; a no-op when no CountWork is active on this thread.
void count_work(double flops, double weight_bytes);

}  // namespace mlaserve::ops
