#include "runtime/model/model_parallel.h"

#include <algorithm>

#include "runtime/core/error.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/transfer.h"

namespace mlaserve {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void ensure_tp_divides(const parallel::WorldConfig& world, int64_t width, const char* field) {
  MLA_ENSURE(width % world.tp() == 0, kInvalidArgument, "--tp ", world.tp(), " does not divide ",
             field, " ", width);
}

}  // namespace

void validate_layout(const ModelConfig& c, const parallel::WorldConfig& world) {
  const int tp = world.tp();
  world.validate_model(c.num_attention_heads, c.n_routed_experts);
  bool any_dense = false, any_moe = false;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l)
    (c.is_moe_layer(l) ? any_moe : any_dense) = true;
  if (any_dense) ensure_tp_divides(world, c.intermediate_size, "intermediate_size");
  if (any_moe && c.n_shared_experts > 0)
    ensure_tp_divides(world, c.n_shared_experts * c.moe_intermediate_size,
                      "the shared experts' width n_shared_experts * moe_intermediate_size");
  if (any_moe && !world.expert_parallel())
    ensure_tp_divides(world, c.moe_intermediate_size, "moe_intermediate_size (with --ep 1)");
  // Blocks of ceil(vocab / tp) rows: the last rank must still get one.
  MLA_ENSURE((tp - 1) * ceil_div(c.vocab_size, tp) < c.vocab_size, kInvalidArgument, "--tp ", tp,
             " leaves the last rank no rows of vocab_size ", c.vocab_size, " (blocks of ",
             ceil_div(c.vocab_size, tp), ")");
}

void validate_model_parallel(const ModelConfig& c, const ModelParallel& p) {
  validate_layout(c, p.world);
  const int tp = p.world.tp();
  const parallel::WorldConfig& world = p.world;
  if (tp == 1) return;
  MLA_ENSURE(p.tp_group != nullptr, kInvalidArgument, "--tp ", tp,
             " needs a TP group communicator, got none (", world.describe(), ")");
  MLA_ENSURE(p.tp_group->size() == tp && p.tp_group->rank() == world.tp_rank(), kInvalidArgument,
             "TP group '", p.tp_group->name(), "' is rank ", p.tp_group->rank(), " of ",
             p.tp_group->size(), ", but ", world.describe(), " has --tp ", tp);
}

parallel::IndexRange vocab_shard(int64_t vocab_size, const parallel::WorldConfig& world) {
  const int64_t block = ceil_div(vocab_size, world.tp());
  return {std::min(vocab_size, world.tp_rank() * block),
          std::min(vocab_size, (world.tp_rank() + 1) * block)};
}

parallel::IndexRange mlp_shard(int64_t width, const parallel::WorldConfig& world) {
  const int64_t block = width / world.tp();
  return {world.tp_rank() * block, (world.tp_rank() + 1) * block};
}

Tensor sum_partials(parallel::Communicator* tp_group, Tensor partial, DType act) {
  if (!tp_group) return partial;
  tp_group->all_reduce_sum(partial);
  return act == DType::kF32 ? partial : ops::to_dtype(partial, act);
}

Tensor gather_vocab(parallel::Communicator& tp_group, const Tensor& local_logits,
                    int64_t vocab_size, const parallel::WorldConfig& world) {
  const int64_t R = local_logits.dim(0), tp = world.tp(), block = ceil_div(vocab_size, tp);
  // all_gather needs one shape on every rank: the last rank pads its short block with zeros.
  Tensor local = local_logits;                                      // [R, block]
  if (local_logits.dim(1) != block) {
    local = ops::zeros({R, block}, DType::kF32, local_logits.device());  // [R, block]
    ops::copy_(local.slice(1, 0, local_logits.dim(1)), local_logits);
  }
  Tensor blocks = tp_group.all_gather(local);                       // [tp * R, block], rank-major
  Tensor logits = Tensor::empty({R, vocab_size}, DType::kF32, local_logits.device());  // [R, vocab]
  for (int64_t r = 0; r < tp; ++r) {
    const int64_t begin = r * block, end = std::min(vocab_size, begin + block);
    Tensor block = blocks.slice(0, r * R, (r + 1) * R).slice(1, 0, end - begin);  // [R, n]
    ops::copy_(logits.slice(1, begin, end), block);
  }
  return logits;
}

}  // namespace mlaserve
