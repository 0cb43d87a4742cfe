#include "launcher/commands/client_security.h"

#include "CLI/CLI.hpp"
#include "rpc/auth_token.h"
#include "rpc/tls_files.h"

namespace mlaserve {

void add_client_security_options(CLI::App& cmd, ClientSecurityFlags& f) {
  cmd.add_option("--tls-ca", f.tls_ca_file,
                 "PEM certificate(s) to verify the server with; connects over TLS (for a server "
                 "started with --tls-cert)");
  cmd.add_option("--auth-token-file", f.auth_token_file,
                 "File whose first line is the server's --auth-token-file token; sent as "
                 "'authorization: Bearer <token>'");
}

rpc::ClientSecurity load_client_security(const ClientSecurityFlags& f) {
  rpc::ClientSecurity security;
  if (!f.tls_ca_file.empty()) security.tls_roots_pem = rpc::load_tls_roots(f.tls_ca_file);
  if (!f.auth_token_file.empty())
    security.token = rpc::read_token_file(f.auth_token_file, "--auth-token-file");
  return security;
}

}  // namespace mlaserve
