#pragma once
// What every worker does before its job: find its rank (flags, else Slurm / Open MPI env vars),
// take and prepare its device, reach the rendezvous store, join the world group (Gloo) and, on a
// GPU, the NCCL TP group, and wrap them for timing. The job then runs as leader (rank 0 of the
// TP group) or follower.
#include <chrono>
#include <memory>
#include <string>

#include "parallel/communicator.h"
#include "parallel/timed_communicator.h"
#include "parallel/world.h"
#include "runtime/core/device.h"

namespace CLI {
class App;
}

namespace mlaserve {

struct WorkerFlags {
  int rank = -1;        // -1: from the environment
  int world_size = -1;  // -1: from the environment, else --tp
  int local_rank = -1;
  int tp = 1;
  int ep = 1;
  std::string store;          // HOST:PORT of the rendezvous store
  std::string job = "job";    // key prefix in the store: one per job (and per restart)
  double timeout_s = 10;      // rendezvous and every collective
  // The address this rank's Gloo device listens on and advertises to its peers: loopback while
  // every rank of the group runs on one machine, this node's cluster address otherwise.
  std::string gloo_host = "127.0.0.1";
  // cpu or cuda (launcher/worker_device.h: the local rank picks the GPU). Its option is
  // commands/device_flag.h's, added by the worker command.
  std::string device = "cpu";
};

// Every option but --device.
void add_worker_options(CLI::App& cmd, WorkerFlags& flags);

struct WorkerSession {
  parallel::WorldConfig world = parallel::WorldConfig::single();
  Device device = Device::cpu();  // where this rank's model lives; prepared (ops::init_device)
  std::unique_ptr<parallel::Communicator> world_group;  // Gloo over TCP, all ranks
  // On a GPU with tp > 1: NCCL over the same ranks (group "tp" under the job's store prefix),
  // on `device`. Null otherwise.
  std::unique_ptr<parallel::Communicator> nccl_group;
  // The CPU control group (step plans) is the world group (one replica); the model's TP group is
  // the NCCL group on a GPU, else the world group too. Each is seen through its own
  // TimedCommunicator so the bench can tell the step plan broadcast, the model's collectives
  // and compute apart.
  std::unique_ptr<parallel::TimedCommunicator> control;
  std::unique_ptr<parallel::TimedCommunicator> tp_group;
};

// Throws kInvalidArgument naming the flag or variable, kFailedPrecondition when --device cuda
// finds no GPU for this rank, kDeadlineExceeded naming the ranks that never joined,
// kUnavailable when the store cannot be reached.
WorkerSession join_world(const WorkerFlags& flags);

}  // namespace mlaserve
