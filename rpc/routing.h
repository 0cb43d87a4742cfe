#pragma once
// Which replica gets the next request: the healthy one with the least outstanding work, where a
// request's work is the prompt tokens still to prefill plus the tokens still to generate. Work,
// not request count, because one long prompt costs a replica as much as many short ones.
#include <cstdint>
#include <vector>

namespace mlaserve::rpc {

struct ReplicaLoad {
  bool healthy = false;
  int64_t outstanding_work = 0;      // tokens, see above
  int64_t outstanding_requests = 0;
};

// Index of the healthy replica with the least work; ties go to the fewest requests, then the
// lowest index. -1 when no replica is healthy.
int pick_replica(const std::vector<ReplicaLoad>& replicas);

}  // namespace mlaserve::rpc
