#pragma once
// The public mlaserve.v1.Inference service (rpc/proto/inference.proto) over a ReplicaPool:
// Generate validates the request (rpc/request_validation.h), submits it and streams the
// leader's outputs back; a client that disconnects or runs past its deadline has its request
// aborted on the leader. No gRPC headers here.
#include <memory>
#include <string>

#include "rpc/replica_pool.h"
#include "rpc/request_validation.h"

namespace grpc {
class Service;
}

namespace mlaserve::rpc {

struct ServedModel {
  std::string name;   // the checkpoint directory's name
  std::string dtype;  // "float32" / "bfloat16"
  int tp = 1, ep = 1;
  int64_t bos_token_id = 0, eos_token_id = 1;
  RequestLimits limits;
};

// A non-empty `token` guards every method: callers must send it as a bearer token
// (rpc/bearer_metadata.h) or get UNAUTHENTICATED.
std::unique_ptr<grpc::Service> make_inference_service(ReplicaPool& pool, const ServedModel& model,
                                                      const std::string& token = "");

}  // namespace mlaserve::rpc
