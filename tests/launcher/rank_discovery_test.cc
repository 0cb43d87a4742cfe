#include "launcher/rank_discovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

EnvLookup env(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

TEST(RankDiscovery, NothingSetMeansNoScheduler) {
  EXPECT_FALSE(discover_rank_from_env(env({})).has_value());
}

TEST(RankDiscovery, ReadsSlurm) {
  auto r = discover_rank_from_env(env({{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "4"},
                                       {"SLURM_LOCALID", "1"}}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->rank, 3);
  EXPECT_EQ(r->world_size, 4);
  EXPECT_EQ(r->local_rank, 1);
  EXPECT_EQ(r->source, "SLURM_PROCID");
}

TEST(RankDiscovery, ReadsOpenMpiAndSlurmWinsWhenBothAreSet) {
  auto ompi = discover_rank_from_env(
      env({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"}}));
  ASSERT_TRUE(ompi.has_value());
  EXPECT_EQ(ompi->rank, 1);
  EXPECT_EQ(ompi->world_size, 2);
  EXPECT_EQ(ompi->local_rank, -1);
  auto both = discover_rank_from_env(env({{"OMPI_COMM_WORLD_RANK", "1"},
                                          {"OMPI_COMM_WORLD_SIZE", "2"},
                                          {"SLURM_PROCID", "0"},
                                          {"SLURM_NTASKS", "2"}}));
  EXPECT_EQ(both->source, "SLURM_PROCID");
  EXPECT_EQ(both->rank, 0);
}

TEST(RankDiscovery, MalformedVariablesAreNamed) {
  auto message = [](std::map<std::string, std::string> vars) {
    try {
      discover_rank_from_env(env(std::move(vars)));
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      return std::string(e.what());
    }
    return std::string();
  };
  using ::testing::HasSubstr;
  EXPECT_THAT(message({{"SLURM_PROCID", "x"}, {"SLURM_NTASKS", "2"}}),
              HasSubstr("SLURM_PROCID='x'"));
  EXPECT_THAT(message({{"SLURM_PROCID", "0"}}), HasSubstr("SLURM_NTASKS is not"));
  EXPECT_THAT(message({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "2"}}),
              HasSubstr("OMPI_COMM_WORLD_RANK=2 is outside OMPI_COMM_WORLD_SIZE=2"));
}

}  // namespace
}  // namespace mlaserve
