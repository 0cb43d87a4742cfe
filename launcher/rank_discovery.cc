#include "launcher/rank_discovery.h"

#include <cstdlib>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

struct Scheme {
  const char* rank;
  const char* size;
  const char* local_rank;
};
constexpr Scheme kSchemes[] = {
    {"SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
    {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
};

std::optional<int> read_int(const EnvLookup& getenv, const char* name) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  MLA_ENSURE(*end == '\0' && n >= 0 && n < (1 << 24), kInvalidArgument, name, "='", v,
             "' is not a non-negative integer");
  return static_cast<int>(n);
}

}  // namespace

std::optional<DiscoveredRank> discover_rank_from_env(const EnvLookup& getenv) {
  for (const Scheme& s : kSchemes) {
    const std::optional<int> rank = read_int(getenv, s.rank);
    if (!rank) continue;
    const std::optional<int> size = read_int(getenv, s.size);
    MLA_ENSURE(size.has_value(), kInvalidArgument, s.rank, " is set but ", s.size, " is not");
    MLA_ENSURE(*rank < *size, kInvalidArgument, s.rank, "=", *rank, " is outside ", s.size, "=",
               *size);
    return DiscoveredRank{*rank, *size, read_int(getenv, s.local_rank).value_or(-1), s.rank};
  }
  return std::nullopt;
}

std::optional<DiscoveredRank> discover_rank_from_env() {
  return discover_rank_from_env([](const char* name) { return std::getenv(name); });
}

}  // namespace mlaserve
