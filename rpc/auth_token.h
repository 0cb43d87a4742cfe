#pragma once
// Shared-secret bearer tokens: the public port's --auth-token-file and the cluster token that
// `serve` hands its workers. Pure functions, no gRPC (the launcher includes this); the checks on
// the wire are in rpc/bearer_metadata.h.
#include <string>
#include <string_view>

namespace mlaserve::rpc {

// The environment variable that carries the cluster token from `serve` to its workers: the
// environment, unlike argv, is not shown to other users by `ps`.
inline constexpr const char* kClusterTokenEnv = "MLASERVE_CLUSTER_TOKEN";

// The first line of `path`, whitespace trimmed. kInvalidArgument naming `flag` and the file when
// it cannot be read or the line is empty.
std::string read_token_file(const std::string& path, const std::string& flag);

// 256 random bits from the kernel, as 64 hex digits.
std::string random_token();

// The cluster token this worker was started with ("" when none).
std::string cluster_token_from_env();

// Equality whose time depends on the lengths only, not on where the first difference lies, so a
// remote caller cannot find the token byte by byte by timing refusals.
bool tokens_equal(std::string_view given, std::string_view expected);

}  // namespace mlaserve::rpc
