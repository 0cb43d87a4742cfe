#include "rpc/bearer_metadata.h"

#include <string_view>

#include "rpc/auth_token.h"
#include "rpc/status_mapping.h"

namespace mlaserve::rpc {
namespace {
constexpr std::string_view kScheme = "Bearer ";
}

grpc::Status check_bearer(const grpc::ServerContext& context, const std::string& token,
                          const char* what) {
  if (token.empty()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it != metadata.end()) {
    const std::string_view sent(it->second.data(), it->second.size());
    if (sent.size() > kScheme.size() && sent.substr(0, kScheme.size()) == kScheme &&
        tokens_equal(sent.substr(kScheme.size()), token))
      return grpc::Status::OK;
  }
  return to_grpc_status(Error(ErrorCode::kUnauthenticated,
                              str_cat(what, " needs metadata 'authorization: Bearer <token>' "
                                      "with the server's token; ",
                                      it == metadata.end() ? "none was sent" : "it did not match")));
}

void add_bearer(grpc::ClientContext& context, const std::string& token) {
  if (!token.empty()) context.AddMetadata("authorization", std::string(kScheme) + token);
}

}  // namespace mlaserve::rpc
