#include "launcher/worker_session.h"

#include <unistd.h>

#include <cstdio>

#include "CLI/CLI.hpp"
#include "launcher/rank_discovery.h"
#include "launcher/worker_device.h"
#include "parallel/gloo_communicator.h"
#include "parallel/prefix_store.h"
#include "rpc/auth_token.h"
#include "rpc/grpc_store.h"
#include "runtime/core/error.h"

#if MLASERVE_WITH_CUDA
#include "parallel/nccl_communicator.h"
#endif

namespace mlaserve {
namespace {

// The replica's TP group on a GPU: NCCL through the same store, with the same timeout. Only in
// builds with the CUDA backend; elsewhere worker_device has already refused --device cuda.
std::unique_ptr<parallel::Communicator> connect_tp_nccl(std::shared_ptr<parallel::Store> store,
                                                        const parallel::WorldConfig& world,
                                                        Device device,
                                                        std::chrono::milliseconds timeout) {
#if MLASERVE_WITH_CUDA
  parallel::NcclOptions options;
  options.device = device.index;
  options.timeout = timeout;
  options.name = "tp";  // keys "<job>/tp/...", next to the Gloo group's "<job>/world/..."
  return parallel::connect_nccl(std::move(store), world.tp_rank(), world.tp(), options);
#else
  (void)store, (void)world, (void)timeout;
  fail(ErrorCode::kUnimplemented, "--device cuda: ", device.name(),
       " needs NCCL, and this mlaserve was built without the CUDA backend");
#endif
}

}  // namespace

void add_worker_options(CLI::App& cmd, WorkerFlags& f) {
  cmd.add_option("--rank", f.rank,
                 "This worker's rank (default: SLURM_PROCID or OMPI_COMM_WORLD_RANK)");
  cmd.add_option("--world-size", f.world_size,
                 "Ranks in the job (default: SLURM_NTASKS / OMPI_COMM_WORLD_SIZE, else --tp)");
  cmd.add_option("--local-rank", f.local_rank,
                 "Rank on this node (default: SLURM_LOCALID / OMPI_COMM_WORLD_LOCAL_RANK)");
  cmd.add_option("--tp", f.tp, "Tensor-parallel size")->capture_default_str();
  cmd.add_option("--ep", f.ep, "Expert-parallel size: 1 or --tp")->capture_default_str();
  cmd.add_option("--store", f.store, "Rendezvous store HOST:PORT")->required();
  cmd.add_option("--job", f.job, "Job id: prefixes this job's keys in the store")
      ->capture_default_str();
  cmd.add_option("--timeout", f.timeout_s,
                 "Seconds for the rendezvous and for every collective (a peer silent this long "
                 "fails the job)")
      ->capture_default_str();
  cmd.add_option("--gloo-host", f.gloo_host,
                 "Address this rank listens on for its collectives and advertises to its peers "
                 "(this node's address on the network the other ranks reach)")
      ->capture_default_str();
}

WorkerSession join_world(const WorkerFlags& f) {
  int rank = f.rank, world_size = f.world_size, local_rank = f.local_rank;
  if (rank < 0) {
    const auto found = discover_rank_from_env();
    MLA_ENSURE(found.has_value(), kInvalidArgument,
               "--rank not given and neither SLURM_PROCID nor OMPI_COMM_WORLD_RANK is set");
    rank = found->rank;
    if (world_size < 0) world_size = found->world_size;
    if (local_rank < 0) local_rank = found->local_rank;
  }
  if (world_size < 0) world_size = f.tp;
  MLA_ENSURE(f.timeout_s > 0, kInvalidArgument, "--timeout must be positive, got ", f.timeout_s);
  const DeviceType device_type = parse_device_flag(f.device);
  WorkerSession s;
  s.world = parallel::WorldConfig::create(world_size, rank, f.tp, f.ep, local_rank);
  // One replica per job for now: several would each need their own leader and requests.
  MLA_ENSURE(s.world.replicas() == 1, kInvalidArgument, "--world-size ", world_size,
             " holds ", s.world.replicas(), " replicas of --tp ", f.tp,
             "; this version runs exactly one replica (world size = --tp)");
  // The device first: a rank without its GPU fails here, before its peers wait on it.
  s.device = prepare_worker_device(device_type, s.world.local_rank());

  // A serving coordinator's store wants the cluster token `serve` put in our environment.
  auto store = std::make_shared<parallel::PrefixStore>(
      f.job, std::make_shared<rpc::GrpcStore>(f.store, std::chrono::seconds(10),
                                              rpc::cluster_token_from_env()));
  parallel::GlooOptions options;
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(f.timeout_s * 1000));
  options.hostname = f.gloo_host;
  s.world_group = parallel::connect_gloo(store, rank, world_size, options);
  // A model on one rank never calls its TP group, so a single GPU needs no NCCL communicator.
  if (!s.device.is_cpu() && s.world.tp() > 1)
    s.nccl_group = connect_tp_nccl(store, s.world, s.device, options.timeout);
  s.control = std::make_unique<parallel::TimedCommunicator>(*s.world_group);
  s.tp_group = std::make_unique<parallel::TimedCommunicator>(s.nccl_group ? *s.nccl_group
                                                                          : *s.world_group);
  std::fprintf(stderr, "joined group 'world' as %s on %s%s, pid %d\n",
               s.world.describe().c_str(), s.device.name().c_str(),
               s.nccl_group ? " (TP group: NCCL)" : "", static_cast<int>(getpid()));
  std::fflush(stderr);
  return s;
}

}  // namespace mlaserve
