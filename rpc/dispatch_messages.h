#pragma once
// The engine's request and output types on the coordinator <-> leader stream
// (rpc/proto/dispatch.proto), both ways, field for field.
#include "rpc/proto/dispatch.pb.h"
#include "runtime/core/error.h"
#include "runtime/engine/request.h"

namespace mlaserve::rpc {

internal::Submit to_submit(RequestId id, const EngineRequest& request);
EngineRequest from_submit(const internal::Submit& submit);

internal::RequestOutput to_proto(const RequestOutput& output);

// A request the leader's engine refused (add_request threw): finished with "error", the error's
// code as a gRPC status code and its message.
internal::RequestOutput refused_output(RequestId id, const Error& error);

}  // namespace mlaserve::rpc
