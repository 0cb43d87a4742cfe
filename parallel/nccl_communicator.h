#pragma once
// The GPU Communicator: NCCL collectives on one CUDA device per rank. NCCL and CUDA stay behind
// this header (built only with the CUDA backend, library mlaserve_parallel_nccl); users see only
// the Communicator interface.
#include <chrono>
#include <memory>
#include <string>

#include "parallel/communicator.h"
#include "parallel/store.h"

namespace mlaserve::parallel {

struct NcclOptions {
  // The CUDA device this rank runs on; every tensor handed to the communicator must live there.
  int device = 0;
  // Bounds the bootstrap (rank 0's id arriving, NCCL init), each enqueue, and every wait
  // (synchronize, barrier, split).
  std::chrono::milliseconds timeout{10000};
  // Names the group in errors and prefixes its keys in the store.
  std::string name = "world";
};

// Joins group `options.name` as `rank` of `size` on CUDA device `options.device`. Rank 0 creates
// the NCCL unique id and sets it under "<name>/nccl_id"; the others read it from `store`.
// Throws kUnavailable when the device does not exist, kDeadlineExceeded when rank 0's id never
// arrives or NCCL init does not complete within the timeout (a rank never joined).
//
// Every collective is enqueued on the device's compute stream (cuda::compute_stream, shared with
// every op) and the call returns once NCCL has enqueued it, without waiting for it: ops queued
// afterwards read its result in stream order. synchronize() waits, with the timeout, for
// everything issued so far; barrier() and split() wait too. Work that produced an input on
// another stream must be synchronized first. The calling thread's current device is restored
// on return.
std::unique_ptr<Communicator> connect_nccl(std::shared_ptr<Store> store, int rank, int size,
                                           const NcclOptions& options = {});

}  // namespace mlaserve::parallel
