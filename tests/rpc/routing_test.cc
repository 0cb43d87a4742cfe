// rpc/routing: the healthy replica with the least outstanding work gets the next request.
#include "rpc/routing.h"

#include <gtest/gtest.h>

namespace mlaserve::rpc {
namespace {

TEST(Routing, LeastOutstandingWorkAmongHealthyReplicas) {
  EXPECT_EQ(pick_replica({{true, 300, 1}, {true, 40, 5}, {true, 100, 0}}), 1);
  // The least loaded replica is unhealthy: the next least loaded healthy one.
  EXPECT_EQ(pick_replica({{true, 300, 1}, {false, 0, 0}, {true, 100, 0}}), 2);
  // Ties on work: fewer requests, then the lower index.
  EXPECT_EQ(pick_replica({{true, 10, 3}, {true, 10, 2}, {true, 10, 2}}), 1);
  EXPECT_EQ(pick_replica({{true, 0, 0}, {true, 0, 0}}), 0);
}

TEST(Routing, NoHealthyReplica) {
  EXPECT_EQ(pick_replica({}), -1);
  EXPECT_EQ(pick_replica({{false, 0, 0}, {false, 5, 1}}), -1);
}

}  // namespace
}  // namespace mlaserve::rpc
