#include "rpc/status_mapping.h"

namespace mlaserve::rpc {

grpc::StatusCode to_grpc_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return grpc::StatusCode::INVALID_ARGUMENT;
    case ErrorCode::kNotFound: return grpc::StatusCode::NOT_FOUND;
    case ErrorCode::kOutOfRange: return grpc::StatusCode::OUT_OF_RANGE;
    case ErrorCode::kFailedPrecondition: return grpc::StatusCode::FAILED_PRECONDITION;
    case ErrorCode::kResourceExhausted: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case ErrorCode::kUnavailable: return grpc::StatusCode::UNAVAILABLE;
    case ErrorCode::kDeadlineExceeded: return grpc::StatusCode::DEADLINE_EXCEEDED;
    case ErrorCode::kCancelled: return grpc::StatusCode::CANCELLED;
    case ErrorCode::kDataLoss: return grpc::StatusCode::DATA_LOSS;
    case ErrorCode::kUnauthenticated: return grpc::StatusCode::UNAUTHENTICATED;
    case ErrorCode::kUnimplemented: return grpc::StatusCode::UNIMPLEMENTED;
    case ErrorCode::kInternal: return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::INTERNAL;
}

ErrorCode from_grpc_code(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT: return ErrorCode::kInvalidArgument;
    case grpc::StatusCode::NOT_FOUND: return ErrorCode::kNotFound;
    case grpc::StatusCode::OUT_OF_RANGE: return ErrorCode::kOutOfRange;
    case grpc::StatusCode::FAILED_PRECONDITION: return ErrorCode::kFailedPrecondition;
    case grpc::StatusCode::ALREADY_EXISTS: return ErrorCode::kFailedPrecondition;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return ErrorCode::kResourceExhausted;
    case grpc::StatusCode::UNAVAILABLE: return ErrorCode::kUnavailable;
    case grpc::StatusCode::ABORTED: return ErrorCode::kUnavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return ErrorCode::kDeadlineExceeded;
    case grpc::StatusCode::CANCELLED: return ErrorCode::kCancelled;
    case grpc::StatusCode::DATA_LOSS: return ErrorCode::kDataLoss;
    case grpc::StatusCode::UNAUTHENTICATED: return ErrorCode::kUnauthenticated;
    case grpc::StatusCode::PERMISSION_DENIED: return ErrorCode::kUnauthenticated;
    case grpc::StatusCode::UNIMPLEMENTED: return ErrorCode::kUnimplemented;
    case grpc::StatusCode::INTERNAL: return ErrorCode::kInternal;
    case grpc::StatusCode::UNKNOWN: return ErrorCode::kInternal;
    default: return ErrorCode::kInternal;  // OK has no error code; callers never pass it
  }
}

grpc::Status to_grpc_status(const Error& error) {
  return grpc::Status(to_grpc_code(error.code()), error.what());
}

grpc::Status to_grpc_status(const std::exception& error) {
  if (const auto* e = dynamic_cast<const Error*>(&error)) return to_grpc_status(*e);
  return grpc::Status(grpc::StatusCode::INTERNAL, error.what());
}

void throw_status(const grpc::Status& status, const std::string& context) {
  MLA_INTERNAL_CHECK(!status.ok());
  fail(from_grpc_code(status.error_code()), status.error_message(), " [", context, "]");
}

}  // namespace mlaserve::rpc
