#pragma once
// A replica leader's life once its model is loaded: register with the coordinator over one
// Dispatch.Connect stream, then drive the Engine — submitted requests go to add_request (a
// refusal goes back as that request's error), aborts free blocks at once, every step's outputs
// are streamed back, and a heartbeat with the engine's stats goes out every heartbeat interval.
// One thread drives the engine; another only reads the stream.
// No gRPC headers here (pimpl).
#include <chrono>
#include <functional>
#include <string>

#include "runtime/engine/engine.h"

namespace mlaserve::rpc {

struct LeaderOptions {
  std::string coordinator;  // HOST:PORT of its cluster port
  std::string token;        // the cluster token
  int replica = 0;
  int64_t num_blocks = 0, block_size = 0;  // reported at registration
  std::chrono::milliseconds heartbeat_interval{1000};
  // Runs on the engine's thread with every heartbeat: a TP leader tells its followers it is
  // alive (LeaderStepExecutor::keep_alive), so they can wait for plans with a finite timeout
  // however long the replica idles.
  std::function<void()> on_heartbeat;
  std::chrono::milliseconds connect_timeout{30000};
};

// Returns when the coordinator sends Shutdown. kUnavailable when the coordinator cannot be
// reached within the connect timeout or the stream breaks; errors from the engine's steps (a
// follower died) propagate.
void run_replica_leader(Engine& engine, const LeaderOptions& options);

}  // namespace mlaserve::rpc
