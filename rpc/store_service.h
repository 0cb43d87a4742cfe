#pragma once
// The rendezvous store served over gRPC, backed by a MemoryStore. The coordinator adds the
// service to its own server; tests and single-purpose processes start a standalone one.
// No gRPC headers here: this is included by the launcher and tests.
#include <memory>
#include <string>

#include "parallel/memory_store.h"

namespace grpc {
class Service;
}

namespace mlaserve::rpc {

// The service for a server the caller builds (grpc::ServerBuilder::RegisterService). A non-empty
// `token` must come with every call (rpc/bearer_metadata.h), else UNAUTHENTICATED.
std::unique_ptr<grpc::Service> make_store_service(std::shared_ptr<parallel::MemoryStore> store,
                                                  const std::string& token);

// A running standalone store server, open to any caller (`generate --tp` binds it to loopback);
// shuts down (cancelling blocked calls) when destroyed.
class StoreServer {
 public:
  virtual ~StoreServer() = default;
  virtual int port() const = 0;  // the bound port (the one picked, when started with port 0)
  virtual std::string address() const = 0;  // "host:port", what GrpcStore connects to
  // The backing map: the hosting process reads and writes it directly, without RPC.
  virtual const std::shared_ptr<parallel::MemoryStore>& store() const = 0;
};

// Listens on host:port (port 0: a free port); throws kUnavailable naming the address when it
// cannot bind.
std::unique_ptr<StoreServer> start_store_server(const std::string& host, int port);

}  // namespace mlaserve::rpc
