#pragma once
// PEM files for TLS on the public port (`serve --tls-cert/--tls-key`, clients' `--tls-ca`),
// read and checked up front so a wrong file is reported by name (exit 2) before a port is
// opened or a worker spawned — gRPC itself would only fail the listen or the handshake, without
// saying which file. No gRPC headers here.
#include <string>

namespace mlaserve::rpc {

struct TlsKeyPair {
  std::string cert_pem, key_pem;
};

// kInvalidArgument naming the flag and file: unreadable, not a PEM certificate / private key, or
// a key that does not belong to the certificate.
TlsKeyPair load_tls_key_pair(const std::string& cert_file, const std::string& key_file);

// The trust roots a client verifies the server with; kInvalidArgument naming --tls-ca and the
// file when it is unreadable or holds no PEM certificate.
std::string load_tls_roots(const std::string& ca_file);

}  // namespace mlaserve::rpc
