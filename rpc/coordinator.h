#pragma once
// The coordinator's two gRPC servers. The public port carries mlaserve.v1.Inference (behind an
// optional bearer token, optionally over TLS), grpc.health.v1.Health and server reflection (both
// always open: probes and tools need no secret). The cluster port carries the internal Dispatch
// (replica leaders) and Store (rendezvous) services, which refuse callers without the cluster
// token. Health reports NOT_SERVING until set_serving(true) (every replica loaded) and again
// once draining starts.
// No gRPC headers here (pimpl): the launcher includes this.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "parallel/memory_store.h"
#include "rpc/inference_service.h"
#include "rpc/replica_pool.h"

namespace mlaserve::rpc {

struct CoordinatorOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: a free port
  std::string tls_cert_pem, tls_key_pem;  // both set: TLS on the public port (rpc/tls_files.h)
  std::string auth_token;                 // set: every Inference call must carry it
  std::string cluster_host = "127.0.0.1";
  int cluster_port = 0;       // 0: a free port
  std::string cluster_token;  // required: every Dispatch / Store call must carry it
  PoolOptions pool;
  ServedModel model;
  std::function<void(int)> on_register;  // after each replica registers
};

class Coordinator {
 public:
  // Listens on host:port and cluster_host:cluster_port; kUnavailable naming the address that
  // cannot be bound.
  static std::unique_ptr<Coordinator> start(const CoordinatorOptions& options);
  ~Coordinator();

  int port() const;
  std::string address() const;  // "host:port"
  int cluster_port() const;
  std::string cluster_address() const;  // "cluster_host:cluster_port"
  ReplicaPool& pool();
  const std::shared_ptr<parallel::MemoryStore>& store() const;

  void set_serving(bool serving);  // grpc.health.v1 status, overall and for mlaserve.v1.Inference
  // Refuses new requests (kUnavailable), reports NOT_SERVING and waits until every request in
  // flight has finished or `deadline` passes; true when all finished.
  bool drain(std::chrono::steady_clock::time_point deadline);
  // Tells the leaders to exit, then stops the server; calls still open at `deadline` are
  // cancelled.
  void shutdown(std::chrono::steady_clock::time_point deadline);

 private:
  struct Impl;
  explicit Coordinator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlaserve::rpc
