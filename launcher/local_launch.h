#pragma once
// Runs one job as `tp` worker processes on this machine: hosts the rendezvous store on
// 127.0.0.1 (a free port), re-executes this binary as `mlaserve worker --rank r ... <job>` for
// every rank and supervises them (launcher/process_supervisor.h). With --device cuda, worker r
// gets the node's r-th GPU (launcher/worker_device.h).
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace mlaserve {

struct LocalLaunch {
  int tp = 1;
  int ep = 1;
  double timeout_s = 10;              // the workers' --timeout
  std::string device = "cpu";         // the workers' --device
  std::vector<std::string> job_args;  // e.g. {"generate", "--model", DIR, ...}
};

// Checks the GPUs (--device cuda: at least tp visible, kFailedPrecondition) and the layout
// against the checkpoint's config (kInvalidArgument naming --tp / --ep) before anything is
// spawned; returns the launcher's exit code.
int launch_local_workers(const std::filesystem::path& model_dir, const LocalLaunch& launch);

// This binary's path (/proc/self/exe), which workers re-execute.
std::string self_executable();

// MLASERVE_NUM_THREADS for each of `ranks` workers sharing this machine: the user's setting if
// any, else max(1, hardware threads / ranks).
std::string worker_threads_env(int ranks);

}  // namespace mlaserve
