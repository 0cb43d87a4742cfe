#pragma once
// Where a worker learns its rank when the command line does not say: a cluster scheduler that
// placed it (Slurm's srun, Open MPI's mpirun) exports the rank, world size and local rank.
#include <functional>
#include <optional>
#include <string>

namespace mlaserve {

struct DiscoveredRank {
  int rank = 0;
  int world_size = 1;
  int local_rank = -1;  // -1: the scheduler did not say (WorldConfig then uses the TP rank)
  std::string source;   // "SLURM_PROCID" or "OMPI_COMM_WORLD_RANK": for messages
};

using EnvLookup = std::function<const char*(const char*)>;

// Slurm first (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID), then Open MPI
// (OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK); nullopt when neither rank variable is set. A set but
// malformed variable (not a number, rank outside [0, size)) is kInvalidArgument naming it.
std::optional<DiscoveredRank> discover_rank_from_env(const EnvLookup& getenv);
std::optional<DiscoveredRank> discover_rank_from_env();  // the process environment

}  // namespace mlaserve
