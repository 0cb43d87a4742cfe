#pragma once
// Where a replica's outputs for one request meet the Generate call streaming them: the dispatch
// side pushes, the handler takes with a timeout (so it can also watch for its client leaving).
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "rpc/proto/dispatch.pb.h"
#include "runtime/core/error.h"

namespace mlaserve::rpc {

class RequestChannel {
 public:
  void push(const internal::RequestOutput& output);
  // Ends the request with an error (its replica was lost, the engine refused it). Only the
  // first failure counts.
  void fail(const Error& error);

  struct News {
    std::vector<internal::RequestOutput> outputs;  // in arrival order
    std::optional<Error> failure;                  // after the outputs
  };
  // Everything pushed since the last take; waits up to `timeout` when there is nothing yet.
  News take(std::chrono::milliseconds timeout);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<internal::RequestOutput> outputs_;
  std::optional<Error> failure_;
};

}  // namespace mlaserve::rpc
