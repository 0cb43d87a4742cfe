#pragma once
// Where a job computes (`--device cpu|cuda`), one GPU per worker process. The launchers
// (generate, bench, serve) check, before loading or spawning anything, that this node sees
// enough GPUs; each worker then takes the GPU its local rank picks and prepares it.
//
// The one rule for GPU placement on a node: the launcher gives its worker with local index i
// CUDA_VISIBLE_DEVICES = the i-th entry of its own CUDA_VISIBLE_DEVICES (i itself when unset) and
// --local-rank 0, so inside the worker its GPU is device 0 and a user's restriction of the GPUs
// is honoured. Workers placed by a cluster scheduler (srun, mpirun) pick by local rank instead.
#include <string>

#include "runtime/core/device.h"

namespace mlaserve {

// "cpu" or "cuda"; kInvalidArgument naming --device otherwise.
DeviceType parse_device_flag(const std::string& flag);

// The launcher's check with --device cuda, before anything is loaded or spawned: this node must
// see at least `gpus_needed` CUDA devices (ops::cuda_device_count(), 0 in a build without CUDA).
// kFailedPrecondition (exit 2) naming the device count, and with too few devices `gpus_needed`
// and `layout` (the flags that ask for them, e.g. "--replicas 2 x --tp 2"). Nothing to check
// for the CPU.
void check_gpus_visible(DeviceType type, int gpus_needed, const std::string& layout);
// The same against a given device count (tests).
void check_gpus_visible(DeviceType type, int gpus_needed, const std::string& layout,
                        int visible);

// CUDA_VISIBLE_DEVICES for the worker with index `local` on this node, given the launcher's own
// value (nullptr: unset): its local-th comma-separated entry (an index, a GPU-/MIG- UUID), else
// `local`. kFailedPrecondition when the launcher's list has no such entry.
std::string cuda_visible_devices_for(int local, const char* launcher_value);
// The same for this process's environment: "CUDA_VISIBLE_DEVICES=<value>".
std::string cuda_visible_devices_env(int local);

// The device a worker computes on: the CPU, or the CUDA device its node-local rank picks among
// the visible ones (local_rank itself; the only one when exactly one is visible, as when a
// launcher or scheduler binds one GPU per worker). kFailedPrecondition naming the numbers when
// there is none to take.
Device worker_device(DeviceType type, int local_rank);
Device worker_device(DeviceType type, int local_rank, int visible);  // given the count (tests)

// worker_device, then ops::init_device on it: what every worker (and a single-process job) does
// before joining a group or loading a model.
Device prepare_worker_device(DeviceType type, int local_rank);

// A job that runs in this process (no --tp): --device parsed, checked and prepared (the first
// visible GPU with --device cuda).
Device prepare_single_process_device(const std::string& device_flag);

}  // namespace mlaserve
