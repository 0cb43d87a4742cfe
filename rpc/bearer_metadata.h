#pragma once
// The bearer token on the wire: metadata `authorization: Bearer <token>`, the header HTTP and
// gRPC's own token credentials use. Servers check it at the top of every handler of a guarded
// service: gRPC C++ offers no other hook that works on a plaintext port (an AuthMetadataProcessor
// needs secure credentials, and server interceptors cannot refuse a call).
#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <string>

namespace mlaserve::rpc {

// OK when `token` is empty (the service is open) or the caller sent it; otherwise
// UNAUTHENTICATED (through rpc/status_mapping.h) naming `what` is guarded, never the token.
grpc::Status check_bearer(const grpc::ServerContext& context, const std::string& token,
                          const char* what);

// Attaches `token` to the call (nothing when empty). Plain metadata rather than call
// credentials: gRPC drops call credentials on plaintext channels, and the cluster's are
// plaintext.
void add_bearer(grpc::ClientContext& context, const std::string& token);

}  // namespace mlaserve::rpc
