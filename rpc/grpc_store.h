#pragma once
// parallel::Store over gRPC: how workers reach the coordinator's rendezvous store. Every call
// carries a gRPC deadline; a server that cannot be reached becomes kUnavailable naming its
// address, and server-side errors come back with the server's code and message.
// No gRPC headers here (pimpl): the launcher and the worker include this.
#include <chrono>
#include <memory>
#include <string>

#include "parallel/store.h"

namespace mlaserve::rpc {

class GrpcStore final : public parallel::Store {
 public:
  // `address` is "host:port". `rpc_timeout` bounds set/add and connecting; get/wait get their own
  // timeout plus `rpc_timeout` so the server's answer (naming the key) arrives before the
  // transport deadline. A non-empty `token` (the cluster token) goes with every call.
  explicit GrpcStore(const std::string& address,
                     std::chrono::milliseconds rpc_timeout = std::chrono::seconds(10),
                     std::string token = "");
  ~GrpcStore() override;

  void set(const std::string& key, const parallel::Bytes& value) override;
  parallel::Bytes get(const std::string& key, std::chrono::milliseconds timeout) override;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  int64_t add(const std::string& key, int64_t delta) override;

  const std::string& address() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlaserve::rpc
