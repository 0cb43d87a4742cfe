#include "launcher/worker_session.h"

#include <unistd.h>

#include <cstdio>

#include "CLI/CLI.hpp"
#include "launcher/rank_discovery.h"
#include "parallel/gloo_communicator.h"
#include "parallel/prefix_store.h"
#include "rpc/auth_token.h"
#include "rpc/grpc_store.h"
#include "runtime/core/error.h"

namespace mlaserve {

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
  WorkerSession s;
  s.world = parallel::WorldConfig::create(world_size, rank, f.tp, f.ep, local_rank);
  // One replica per job for now: several would each need their own leader and requests.
  MLA_ENSURE(s.world.replicas() == 1, kInvalidArgument, "--world-size ", world_size,
             " holds ", s.world.replicas(), " replicas of --tp ", f.tp,
             "; this version runs exactly one replica (world size = --tp)");

  // A serving coordinator's store wants the cluster token `serve` put in our environment.
  auto store = std::make_shared<parallel::PrefixStore>(
      f.job, std::make_shared<rpc::GrpcStore>(f.store, std::chrono::seconds(10),
                                              rpc::cluster_token_from_env()));
  parallel::GlooOptions options;
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(f.timeout_s * 1000));
  options.hostname = f.gloo_host;
  s.world_group = parallel::connect_gloo(store, rank, world_size, options);
  s.control = std::make_unique<parallel::TimedCommunicator>(*s.world_group);
  s.tp_group = std::make_unique<parallel::TimedCommunicator>(*s.world_group);
  std::fprintf(stderr, "joined group 'world' as %s, pid %d\n", s.world.describe().c_str(),
               static_cast<int>(getpid()));
  std::fflush(stderr);
  return s;
}

}  // namespace mlaserve
