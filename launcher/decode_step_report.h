#pragma once
// Per-rank accounting of decode steps for `bench decode --tp`: each step's wall time split into
// communication on the model's TP group, the step plan broadcast (leader only) and the rest
// (compute), with bytes sent per rank compared to what tensor parallelism should cost.
#include <cstdint>
#include <cstdio>
#include <map>

#include "parallel/timed_communicator.h"
#include "runtime/model/config.h"

namespace mlaserve {

// Bytes one rank sends in one decode step of `batch` tokens with TP size `tp` (f32 activations),
// counting exactly:
//   - per layer, two all-reduces of [batch, hidden] f32 (after o_proj; after the MoE / dense MLP,
//     routed and shared parts summed together), and one more for the vocabulary-parallel
//     embedding: (2 * layers + 1) all-reduces, each 2(n-1)/n * B on a ring;
//   - the logits all-gather: every rank contributes [batch, vocab / n] f32, ring (n-1) * B.
// Nothing else (no all_to_all: EP shares the TP group and reduces in the same all-reduce).
struct DecodeCommTheory {
  uint64_t all_reduce_bytes = 0;
  uint64_t all_gather_bytes = 0;
  int64_t all_reduces = 0;
  uint64_t total() const { return all_reduce_bytes + all_gather_bytes; }
};
DecodeCommTheory decode_comm_theory(const ModelConfig& config, int64_t batch, int tp);

class DecodeStepReport {
 public:
  // One decode step of `batch` sequences that took `seconds` of wall time; the deltas of the TP
  // group's and the control group's stats over that step.
  void record(int64_t batch, double seconds, const parallel::CommunicationStats& tp_delta,
              const parallel::CommunicationStats& control_delta);
  // One line per batch size: "rank R decode batch B: ... ms/step compute, ... ms/step TP
  // communication (k all-reduce, m all-gather), ... ms/step plan broadcast, sent X KB/step
  // (theory Y KB/step)".
  void print(std::FILE* out, const ModelConfig& config, int rank, int tp) const;
  bool empty() const { return by_batch_.empty(); }

 private:
  struct Totals {
    int64_t steps = 0;
    double seconds = 0;
    parallel::CommunicationStats tp, control;
  };
  std::map<int64_t, Totals> by_batch_;
};

}  // namespace mlaserve
