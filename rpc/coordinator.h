#pragma once
// The coordinator's gRPC server: the public mlaserve.v1.Inference service, grpc.health.v1.Health
// and server reflection for clients; the internal Dispatch (replica leaders) and Store
// (rendezvous) services for the workers — all on one port. Health reports NOT_SERVING until
// set_serving(true) (every replica loaded) and again once draining starts.
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
  PoolOptions pool;
  ServedModel model;
  std::function<void(int)> on_register;  // after each replica registers
};

class Coordinator {
 public:
  // Listens on host:port; kUnavailable naming the address when it cannot bind.
  static std::unique_ptr<Coordinator> start(const CoordinatorOptions& options);
  ~Coordinator();

  int port() const;
  std::string address() const;  // "host:port"
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
