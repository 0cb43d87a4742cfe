#include "launcher/decode_step_report.h"

namespace mlaserve {
namespace {

void add(parallel::CommunicationStats& into, const parallel::CommunicationStats& d) {
  for (size_t i = 0; i < into.by_collective.size(); ++i) {
    into.by_collective[i].calls += d.by_collective[i].calls;
    into.by_collective[i].seconds += d.by_collective[i].seconds;
    into.by_collective[i].bytes_sent += d.by_collective[i].bytes_sent;
  }
}

}  // namespace

DecodeCommTheory decode_comm_theory(const ModelConfig& c, int64_t batch, int tp) {
  DecodeCommTheory t;
  if (tp <= 1) return t;
  const uint64_t n = static_cast<uint64_t>(tp);
  const uint64_t activation = static_cast<uint64_t>(batch * c.hidden_size) * sizeof(float);
  t.all_reduces = 2 * c.num_hidden_layers + 1;
  t.all_reduce_bytes = t.all_reduces * (2 * (n - 1) * activation / n);
  const uint64_t logits_slice = static_cast<uint64_t>(batch * (c.vocab_size / tp)) * sizeof(float);
  t.all_gather_bytes = (n - 1) * logits_slice;
  return t;
}

void DecodeStepReport::record(int64_t batch, double seconds,
                              const parallel::CommunicationStats& tp_delta,
                              const parallel::CommunicationStats& control_delta) {
  Totals& t = by_batch_[batch];
  ++t.steps;
  t.seconds += seconds;
  add(t.tp, tp_delta);
  add(t.control, control_delta);
}

void DecodeStepReport::print(std::FILE* out, const ModelConfig& config, int rank, int tp) const {
  using parallel::Collective;
  for (const auto& [batch, t] : by_batch_) {
    const double steps = static_cast<double>(t.steps);
    const parallel::CollectiveStats comm = t.tp.total(), plan = t.control.total();
    const double compute = t.seconds - comm.seconds - plan.seconds;
    const DecodeCommTheory theory = decode_comm_theory(config, batch, tp);
    std::fprintf(out,
                 "rank %d decode batch %3lld: %.3f ms/step compute, %.3f ms/step TP communication "
                 "(%.1f all-reduce, %.1f all-gather per step), %.3f ms/step plan broadcast; "
                 "TP sent %.1f KB/step/rank (theory %.1f KB: %lld all-reduces %.1f KB + logits "
                 "all-gather %.1f KB)\n",
                 rank, static_cast<long long>(batch), 1e3 * compute / steps,
                 1e3 * comm.seconds / steps, t.tp[Collective::kAllReduceSum].calls / steps,
                 t.tp[Collective::kAllGather].calls / steps, 1e3 * plan.seconds / steps,
                 comm.bytes_sent / steps / 1e3, theory.total() / 1e3,
                 static_cast<long long>(theory.all_reduces), theory.all_reduce_bytes / 1e3,
                 theory.all_gather_bytes / 1e3);
  }
  std::fflush(out);
}

}  // namespace mlaserve
