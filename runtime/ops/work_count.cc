#include "runtime/ops/work_count.h"

namespace mlaserve::ops {
namespace {
thread_local WorkCount* current = nullptr;
}  // namespace

CountWork::CountWork(WorkCount& count) : previous_(current) { current = &count; }
CountWork::~CountWork() { current = previous_; }

void count_work(double flops, double weight_bytes) {
  if (current == nullptr) return;
  current->flops += flops;
  current->weight_bytes += weight_bytes;
}

}  // namespace mlaserve::ops
