#pragma once
// The CPU Communicator: Gloo collectives over TCP. Gloo stays behind this header; users see only
// the Communicator interface.
#include <chrono>
#include <memory>
#include <string>

#include "parallel/communicator.h"
#include "parallel/store.h"

namespace mlaserve::parallel {

struct GlooOptions {
  // The address this rank listens on and advertises to its peers.
  std::string hostname = "127.0.0.1";
  // Bounds the rendezvous (waiting for every rank to join) and every collective afterwards.
  std::chrono::milliseconds timeout{10000};
  // Names the group in errors and prefixes its keys in the store.
  std::string name = "world";
};

// Joins group `options.name` as `rank` of `size`, meeting the other ranks through `store`.
// Blocks until all have joined; throws kDeadlineExceeded naming the ranks that never came.
std::unique_ptr<Communicator> connect_gloo(std::shared_ptr<Store> store, int rank, int size,
                                           const GlooOptions& options = {});

}  // namespace mlaserve::parallel
