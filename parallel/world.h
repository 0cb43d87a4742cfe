#pragma once
// WorldConfig: every piece of rank arithmetic in one value type. A job of `world_size` ranks is
// `replicas` model replicas of `tp` consecutive ranks each; inside a replica the routed experts
// are split over `ep` ranks (ep == tp) or not at all (ep == 1, every expert TP-split).
#include <cstdint>
#include <string>

namespace mlaserve::parallel {

// [begin, end) over some index space (heads, experts, vocabulary rows).
struct IndexRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
  bool contains(int64_t i) const { return i >= begin && i < end; }
  bool operator==(const IndexRange&) const = default;
};

class WorldConfig {
 public:
  // Validates the layout; errors name the flag and the numbers (kInvalidArgument).
  // `local_rank` is the rank's index on its node (device ordinal); -1 means "same as tp_rank".
  static WorldConfig create(int world_size, int rank, int tp, int ep, int local_rank = -1);
  static WorldConfig single() { return create(1, 0, 1, 1); }

  int world_size() const { return world_size_; }
  int rank() const { return rank_; }
  int tp() const { return tp_; }
  int ep() const { return ep_; }
  int local_rank() const { return local_rank_; }

  int replicas() const { return world_size_ / tp_; }
  int replica() const { return rank_ / tp_; }
  int tp_rank() const { return rank_ % tp_; }
  int ep_rank() const { return ep_ == 1 ? 0 : tp_rank(); }
  int leader_rank() const { return replica() * tp_; }  // global rank of this replica's leader
  bool is_leader() const { return tp_rank() == 0; }
  bool expert_parallel() const { return ep_ > 1; }
  // Global ranks of this rank's TP group (= its replica), in TP order: the members a
  // world.split(replica(), tp_rank()) produces.
  IndexRange tp_group() const { return {leader_rank(), leader_rank() + tp_}; }

  // Checks that the model can be sharded this way (tp divides heads, ep divides experts).
  void validate_model(int64_t n_heads, int64_t n_routed_experts) const;
  // Heads this rank computes: a contiguous block of n_heads / tp.
  IndexRange heads(int64_t n_heads) const;
  // Routed experts this rank owns whole: n/ep of them with EP, all of them (each TP-split) without.
  IndexRange experts(int64_t n_experts) const;

  std::string describe() const;  // "rank 3/8 (replica 1, tp 2/4, ep 2/4)"
  bool operator==(const WorldConfig&) const = default;

 private:
  WorldConfig() = default;
  int world_size_ = 1, rank_ = 0, tp_ = 1, ep_ = 1, local_rank_ = 0;
};

}  // namespace mlaserve::parallel
