// The sharded model with its ranks as real processes (tests/rpc/model_rank_main.cc) meeting
// through the gRPC store this process hosts: each process has its own thread pool and mapping
// of the checkpoint, as under the launcher. Every rank must return the same logits, within the
// single-rank tolerance of DeepSeek's reference outputs, with the reference's greedy tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "rpc/store_service.h"
#include "tests/support/child_process.h"

namespace mlaserve::rpc {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using mlaserve::testing::spawn_process;
using mlaserve::testing::wait_exit;

struct Layout {
  int tp, ep;
};
class ShardedModelProcesses : public ::testing::TestWithParam<Layout> {};
INSTANTIATE_TEST_SUITE_P(Layouts, ShardedModelProcesses,
                         ::testing::Values(Layout{2, 2}, Layout{4, 1}),
                         [](const auto& info) {
                           return "tp" + std::to_string(info.param.tp) + "_ep" +
                                  std::to_string(info.param.ep);
                         });

TEST_P(ShardedModelProcesses, EveryRankMatchesTheReference) {
  const auto [tp, ep] = GetParam();
  const std::string dir = std::string(MLASERVE_TEST_DATA_DIR) + "/tiny-v2";
  auto server = start_store_server("127.0.0.1", 0);
  std::vector<pid_t> pids;
  for (int r = 0; r < tp; ++r)
    pids.push_back(spawn_process({MODEL_RANK_BINARY, server->address(), std::to_string(r),
                          std::to_string(tp), std::to_string(ep), dir}));
  const auto deadline = Clock::now() + 120s;
  for (int r = 0; r < tp; ++r) ASSERT_EQ(wait_exit(pids[r], deadline), 0) << "rank " << r;

  const auto rank0 = server->store()->get("result/0", 0ms);
  for (int r = 1; r < tp; ++r)
    EXPECT_EQ(server->store()->get("result/" + std::to_string(r), 0ms), rank0) << "rank " << r;

  std::ifstream in(dir + "/cases.json");
  const auto cases = nlohmann::json::parse(in)["cases"];
  std::vector<float> got(rank0.size() / sizeof(float));
  std::memcpy(got.data(), rank0.data(), rank0.size());
  size_t at = 0;
  double worst = 0;
  for (const auto& c : cases) {
    std::vector<std::vector<float>> want = {c["prefill_logits"].get<std::vector<float>>()};
    for (const auto& row : c["decode_logits"]) want.push_back(row.get<std::vector<float>>());
    const auto greedy = c["greedy_tokens"].get<std::vector<int64_t>>();
    for (size_t s = 0; s < want.size(); ++s) {
      const size_t vocab = want[s].size();
      ASSERT_LE(at + vocab, got.size());
      const float* row = got.data() + at;
      double diff = 0, scale = 0;
      for (size_t j = 0; j < vocab; ++j) {
        diff = std::max(diff, std::fabs(static_cast<double>(row[j]) - want[s][j]));
        scale = std::max(scale, std::fabs(static_cast<double>(want[s][j])));
      }
      worst = std::max(worst, diff / scale);
      EXPECT_EQ(std::max_element(row, row + vocab) - row, greedy[s]) << c["id"] << " step " << s;
      at += vocab;
    }
  }
  EXPECT_EQ(at, got.size());
  std::printf("[tiny-v2 tp %d ep %d, processes] worst row rel %.3g\n", tp, ep, worst);
  EXPECT_LE(worst, 1e-4);
}

}  // namespace
}  // namespace mlaserve::rpc
