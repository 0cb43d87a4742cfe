#include "rpc/status_mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mlaserve::rpc {
namespace {

constexpr ErrorCode kAllCodes[] = {
    ErrorCode::kInvalidArgument, ErrorCode::kNotFound,        ErrorCode::kOutOfRange,
    ErrorCode::kFailedPrecondition, ErrorCode::kResourceExhausted, ErrorCode::kUnavailable,
    ErrorCode::kDeadlineExceeded, ErrorCode::kCancelled,       ErrorCode::kDataLoss,
    ErrorCode::kUnauthenticated, ErrorCode::kUnimplemented,   ErrorCode::kInternal};

TEST(StatusMapping, EveryErrorCodeSurvivesTheRoundTrip) {
  for (ErrorCode code : kAllCodes) {
    const grpc::StatusCode wire = to_grpc_code(code);
    EXPECT_NE(wire, grpc::StatusCode::OK) << error_code_name(code);
    EXPECT_EQ(from_grpc_code(wire), code) << error_code_name(code);
  }
}

TEST(StatusMapping, CodeNamesMatchTheGrpcNames) {
  // Our names are gRPC's, so logs read the same on both sides of the wire.
  EXPECT_EQ(to_grpc_code(ErrorCode::kDeadlineExceeded), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(to_grpc_code(ErrorCode::kUnavailable), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(from_grpc_code(grpc::StatusCode::UNKNOWN), ErrorCode::kInternal);
  EXPECT_EQ(from_grpc_code(grpc::StatusCode::PERMISSION_DENIED), ErrorCode::kUnauthenticated);
}

TEST(StatusMapping, AnErrorBecomesAStatusAndComesBackWithCodeAndMessage) {
  const Error original(ErrorCode::kNotFound, "tensor 'model.layers.0.x' not found");
  const grpc::Status status = to_grpc_status(original);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), original.what());
  try {
    throw_status(status, "worker at 10.0.0.1:5000");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("tensor 'model.layers.0.x' not found"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("worker at 10.0.0.1:5000"));
  }
}

TEST(StatusMapping, ForeignExceptionsAreInternal) {
  const std::runtime_error bug("vector::at");
  EXPECT_EQ(to_grpc_status(bug).error_code(), grpc::StatusCode::INTERNAL);
  const Error ours(ErrorCode::kOutOfRange, "position 9000 > 8192");
  const std::exception& as_base = ours;
  EXPECT_EQ(to_grpc_status(as_base).error_code(), grpc::StatusCode::OUT_OF_RANGE);
}

}  // namespace
}  // namespace mlaserve::rpc
