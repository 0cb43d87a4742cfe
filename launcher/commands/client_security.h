#pragma once
// `--tls-ca` and `--auth-token-file` for the commands that call a running server
// (`mlaserve client`, `bench serve`): defined once so both spell and check them alike.
#include <string>

#include "rpc/inference_client.h"

namespace CLI {
class App;
}

namespace mlaserve {

struct ClientSecurityFlags {
  std::string tls_ca_file, auth_token_file;
};

void add_client_security_options(CLI::App& cmd, ClientSecurityFlags& flags);
// Reads the files; kInvalidArgument naming the flag and file when one is unusable.
rpc::ClientSecurity load_client_security(const ClientSecurityFlags& flags);

}  // namespace mlaserve
