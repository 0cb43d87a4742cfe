#include "rpc/routing.h"

#include <tuple>

namespace mlaserve::rpc {

int pick_replica(const std::vector<ReplicaLoad>& replicas) {
  int best = -1;
  for (int i = 0; i < static_cast<int>(replicas.size()); ++i) {
    const ReplicaLoad& r = replicas[i];
    if (!r.healthy) continue;
    if (best < 0 || std::tie(r.outstanding_work, r.outstanding_requests) <
                        std::tie(replicas[best].outstanding_work,
                                 replicas[best].outstanding_requests))
      best = i;
  }
  return best;
}

}  // namespace mlaserve::rpc
