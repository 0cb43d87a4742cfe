#pragma once
// The worker processes `mlaserve serve` starts on one node. The job's replicas × tp ranks are
// numbered globally (replica k holds ranks k·tp .. k·tp + tp − 1) and split evenly over the
// nodes; each replica is its own world (its own Gloo group, keys under "<job>/replica-k" in the
// coordinator's store), since replicas never exchange tensors.
#include <string>
#include <vector>

#include "launcher/process_supervisor.h"

namespace mlaserve {

struct ServeLayout {
  int tp = 1, ep = 1, replicas = 1;
  int nnodes = 1, node_rank = 0;
  // One GPU per worker (launcher/worker_device.h): CUDA_VISIBLE_DEVICES = the node's GPU at its
  // index (within the launcher's own CUDA_VISIBLE_DEVICES), so inside the worker its GPU is
  // device 0 (its --local-rank, the device ordinal, is then 0); the workers get --device cuda.
  bool cuda = false;
};

// kInvalidArgument naming the flag when the ranks do not split evenly over the nodes or a count
// is out of range.
void check_serve_layout(const ServeLayout& layout);

struct ServeWorkerArgs {
  std::string executable;                 // this binary
  std::string coordinator;                // HOST:PORT: rendezvous store and Dispatch service
  std::string job;                        // store key prefix: the same on every node
  double timeout_s = 10;                  // the workers' --timeout
  std::string gloo_host = "127.0.0.1";    // the workers' --gloo-host: this node's address
  std::vector<std::string> job_args;      // serve_job_args(...)
  std::vector<std::string> env_overrides;  // "NAME=value" over our environment
};

std::vector<WorkerProcess> serve_workers(const ServeLayout& layout, const ServeWorkerArgs& args);

// Replica `replica`'s workers on this node (empty when it lives elsewhere), in tp-rank order.
// Generation g > 0 (the g-th restart) rendezvous under "<job>/replica-k/gen-g", so a restarted
// replica never meets keys its dead predecessors left in the store.
std::vector<WorkerProcess> replica_workers(const ServeLayout& layout, const ServeWorkerArgs& args,
                                           int replica, int generation);

}  // namespace mlaserve
