#pragma once
// The coordinator's end of the leaders' Connect streams (rpc/proto/dispatch.proto): registers
// each replica with the pool, feeds it the leader's outputs and heartbeats, and detaches the
// replica when its stream ends. No gRPC headers here.
#include <functional>
#include <memory>
#include <string>

#include "rpc/replica_pool.h"

namespace grpc {
class Service;
}

namespace mlaserve::rpc {

// `on_register(replica)` runs after each replica is attached (the launcher counts them). A
// non-empty `token` (the cluster token) must come with every stream, else UNAUTHENTICATED.
std::unique_ptr<grpc::Service> make_dispatch_service(ReplicaPool& pool,
                                                     std::function<void(int)> on_register,
                                                     const std::string& token);

}  // namespace mlaserve::rpc
