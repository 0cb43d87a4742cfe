#include "parallel/world.h"

#include "runtime/core/error.h"

namespace mlaserve::parallel {

WorldConfig WorldConfig::create(int world_size, int rank, int tp, int ep, int local_rank) {
  MLA_ENSURE(world_size >= 1, kInvalidArgument, "world size must be at least 1, got ", world_size);
  MLA_ENSURE(rank >= 0 && rank < world_size, kInvalidArgument, "rank ", rank,
             " is outside the world of size ", world_size);
  MLA_ENSURE(tp >= 1, kInvalidArgument, "--tp must be at least 1, got ", tp);
  MLA_ENSURE(world_size % tp == 0, kInvalidArgument, "--tp ", tp,
             " does not divide the world size ", world_size);
  MLA_ENSURE(ep == 1 || ep == tp, kInvalidArgument, "--ep ", ep, " must be 1 or equal to --tp ",
             tp, " (the EP group is the TP group)");
  WorldConfig w;
  w.world_size_ = world_size;
  w.rank_ = rank;
  w.tp_ = tp;
  w.ep_ = ep;
  w.local_rank_ = local_rank < 0 ? w.tp_rank() : local_rank;
  return w;
}

void WorldConfig::validate_model(int64_t n_heads, int64_t n_routed_experts) const {
  MLA_ENSURE(n_heads % tp_ == 0, kInvalidArgument, "--tp ", tp_,
             " does not divide num_attention_heads ", n_heads);
  MLA_ENSURE(n_routed_experts % ep_ == 0, kInvalidArgument, "--ep ", ep_,
             " does not divide n_routed_experts ", n_routed_experts);
}

IndexRange WorldConfig::heads(int64_t n_heads) const {
  MLA_ENSURE(n_heads % tp_ == 0, kInvalidArgument, "--tp ", tp_,
             " does not divide num_attention_heads ", n_heads);
  const int64_t per_rank = n_heads / tp_;
  return {tp_rank() * per_rank, (tp_rank() + 1) * per_rank};
}

IndexRange WorldConfig::experts(int64_t n_experts) const {
  MLA_ENSURE(n_experts % ep_ == 0, kInvalidArgument, "--ep ", ep_,
             " does not divide n_routed_experts ", n_experts);
  const int64_t per_rank = n_experts / ep_;
  return {ep_rank() * per_rank, (ep_rank() + 1) * per_rank};
}

std::string WorldConfig::describe() const {
  return str_cat("rank ", rank_, "/", world_size_, " (replica ", replica(), ", tp ", tp_rank(),
                 "/", tp_, ", ep ", ep_rank(), "/", ep_, ")");
}

}  // namespace mlaserve::parallel
