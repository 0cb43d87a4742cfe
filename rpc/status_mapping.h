#pragma once
// The one place where our ErrorCode meets grpc::StatusCode, in both directions. Servers turn a
// caught Error into a Status; clients turn a non-OK Status back into an Error with the same code
// and the server's message, so an error crosses the wire unchanged.
#include <grpcpp/support/status.h>

#include <string>

#include "runtime/core/error.h"

namespace mlaserve::rpc {

grpc::StatusCode to_grpc_code(ErrorCode code);
// Codes we never produce map to their nearest meaning (UNKNOWN -> kInternal, ALREADY_EXISTS ->
// kFailedPrecondition, PERMISSION_DENIED -> kUnauthenticated, ABORTED -> kUnavailable).
ErrorCode from_grpc_code(grpc::StatusCode code);

grpc::Status to_grpc_status(const Error& error);
// For handlers: Error keeps its code, anything else is a bug of ours (INTERNAL).
grpc::Status to_grpc_status(const std::exception& error);

// Throws the Error a non-OK status stands for; `context` (e.g. "store at 127.0.0.1:5000") is
// appended so the message also names the remote end.
[[noreturn]] void throw_status(const grpc::Status& status, const std::string& context);

}  // namespace mlaserve::rpc
