#pragma once
// How one rank holds and runs its share of the model (DESIGN.md "Sharding"): which slice of every
// split index space it owns, and the two collectives the forward pass needs — summing partial
// block outputs and gathering vocabulary-parallel logits. With tp == 1 none of this communicates.
#include <cstdint>

#include "parallel/communicator.h"
#include "parallel/world.h"
#include "runtime/core/tensor.h"
#include "runtime/model/config.h"

namespace mlaserve {

struct ModelParallel {
  parallel::WorldConfig world = parallel::WorldConfig::single();
  // This replica's TP group (size world.tp()); may be null only when tp == 1, and is not used
  // then. Not owned: it must outlive the model.
  parallel::Communicator* tp_group = nullptr;
};

// Checks, before anything is read, that `config` can be sharded over `world`: tp divides the
// heads, ep the routed experts, tp the dense, shared and (ep == 1) routed MLP widths, and every
// rank gets at least one vocabulary row. kInvalidArgument naming the flag and the numbers. The
// launcher calls it before spawning any worker.
void validate_layout(const ModelConfig& config, const parallel::WorldConfig& world);
// validate_layout, plus: the TP group matches the world.
void validate_model_parallel(const ModelConfig& config, const ModelParallel& parallel);

// Vocabulary rows of embed_tokens / lm_head this rank holds: blocks of ceil(vocab / tp) rows in
// rank order, so the last rank gets the remainder (fewer rows) when tp does not divide vocab.
parallel::IndexRange vocab_shard(int64_t vocab_size, const parallel::WorldConfig& world);
// Rows of a TP-split MLP of width `width` (gate/up rows, down columns): width / tp each.
parallel::IndexRange mlp_shard(int64_t width, const parallel::WorldConfig& world);

// The dtype a block writes its partial output in: the activation dtype when there is nothing to
// sum (tp == 1, today's path), else f32, so the all-reduce adds unrounded partials.
inline DType partial_dtype(parallel::Communicator* tp_group, DType act) {
  return tp_group ? DType::kF32 : act;
}
// Sums a block's partial outputs [T, hidden] over the TP group and returns the total in `act`
// (the partial itself when there is no group).
Tensor sum_partials(parallel::Communicator* tp_group, Tensor partial, DType act);
// Local logits [R, rows of vocab_shard] f32 → the full [R, vocab] on every rank, in vocabulary
// order.
Tensor gather_vocab(parallel::Communicator& tp_group, const Tensor& local_logits,
                    int64_t vocab_size, const parallel::WorldConfig& world);

}  // namespace mlaserve
