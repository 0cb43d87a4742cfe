#pragma once
// A client of the public Inference service (what `mlaserve client` and `bench serve` use):
// streams one request's responses to a callback as they arrive. A non-OK status becomes the
// Error it maps to (rpc/status_mapping.h), its message naming the server's address.
// No gRPC headers here (pimpl).
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "rpc/proto/inference.pb.h"

namespace mlaserve::rpc {

// How to reach a server started with --tls-cert / --auth-token-file.
struct ClientSecurity {
  std::string tls_roots_pem;  // set: TLS, verifying the server against these roots
  std::string token;          // set: sent as a bearer token with every call
};

class InferenceClient {
 public:
  // Waits up to `connect_timeout` for the server (kUnavailable naming the address).
  InferenceClient(const std::string& address, std::chrono::milliseconds connect_timeout,
                  const ClientSecurity& security = {});
  ~InferenceClient();

  using OnResponse = std::function<void(const v1::GenerateResponse&)>;
  // Returns after the last response; `timeout`, when given, is the call's gRPC deadline. An
  // exception from `on_response` cancels the call (the server aborts the request) and propagates.
  void generate(const v1::GenerateRequest& request, const OnResponse& on_response,
                std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  v1::ModelInfo model_info();
  v1::ServerStats server_stats();
  const std::string& address() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlaserve::rpc
