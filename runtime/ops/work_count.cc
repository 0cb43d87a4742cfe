#include "runtime/ops/work_count.h"

namespace mlaserve::ops {
namespace {
thread_local WorkCount* current = nullptr;
}  // namespace

CountWork::CountWork(WorkCount* count) : previous_(current) { current = count; }
CountWork::~CountWork() { current = previous_; }

WorkCount* current_work() { return current; }

void count_work(double flops, double weight_bytes) {
  if (current == nullptr) return;
  current->flops.fetch_add(flops, std::memory_order_relaxed);
  current->weight_bytes.fetch_add(weight_bytes, std::memory_order_relaxed);
}

}  // namespace mlaserve::ops
