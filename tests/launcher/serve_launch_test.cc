// launcher/serve_launch: which workers `serve` starts on a node, with which ranks, replica,
// store prefix and GPU.
#include "launcher/serve_launch.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

std::string flag(const WorkerProcess& w, const std::string& name) {
  const auto it = std::find(w.argv.begin(), w.argv.end(), name);
  return it == w.argv.end() || it + 1 == w.argv.end() ? "<missing>" : *(it + 1);
}

std::string env(const WorkerProcess& w, const std::string& name) {
  for (const std::string& e : w.env)
    if (e.rfind(name + "=", 0) == 0) return e.substr(name.size() + 1);
  return "<unset>";
}

ServeWorkerArgs args() {
  ServeWorkerArgs a;
  a.executable = "/bin/mlaserve";
  a.coordinator = "10.0.0.1:5000";
  a.job = "serve-7";
  a.gloo_host = "10.0.0.2";
  a.job_args = {"--model", "/m"};
  return a;
}

// Sets (or with nullptr unsets) CUDA_VISIBLE_DEVICES for the scope: the launcher's own value
// decides which GPUs its workers get.
class VisibleDevices {
 public:
  explicit VisibleDevices(const char* value) {
    if (const char* old = std::getenv("CUDA_VISIBLE_DEVICES")) old_ = old;
    if (value) ::setenv("CUDA_VISIBLE_DEVICES", value, 1);
    else ::unsetenv("CUDA_VISIBLE_DEVICES");
  }
  ~VisibleDevices() {
    if (old_) ::setenv("CUDA_VISIBLE_DEVICES", old_->c_str(), 1);
    else ::unsetenv("CUDA_VISIBLE_DEVICES");
  }

 private:
  std::optional<std::string> old_;
};

TEST(ServeLaunch, ReplicasOfTpRanksSplitOverTwoNodes) {
  // 2 replicas x tp 2 over 2 nodes: node 1 runs replica 1's ranks 0 and 1 on GPUs 0 and 1.
  const VisibleDevices all(nullptr);
  const auto workers = serve_workers({.tp = 2, .ep = 2, .replicas = 2, .nnodes = 2,
                                      .node_rank = 1, .cuda = true},
                                     args());
  ASSERT_EQ(workers.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const WorkerProcess& w = workers[i];
    EXPECT_EQ(w.argv[0], "/bin/mlaserve");
    EXPECT_EQ(w.argv[1], "worker");
    EXPECT_EQ(flag(w, "--rank"), std::to_string(i));
    EXPECT_EQ(flag(w, "--world-size"), "2");
    EXPECT_EQ(flag(w, "--tp"), "2");
    EXPECT_EQ(flag(w, "--ep"), "2");
    EXPECT_EQ(flag(w, "--store"), "10.0.0.1:5000");
    EXPECT_EQ(flag(w, "--job"), "serve-7/replica-1");
    EXPECT_EQ(flag(w, "--gloo-host"), "10.0.0.2");
    EXPECT_EQ(flag(w, "--replica"), "1");
    EXPECT_EQ(flag(w, "--coordinator"), "10.0.0.1:5000");
    EXPECT_EQ(flag(w, "--model"), "/m");
    EXPECT_EQ(flag(w, "--local-rank"), "0");  // its one visible GPU
    EXPECT_EQ(flag(w, "--device"), "cuda");
    EXPECT_EQ(env(w, "CUDA_VISIBLE_DEVICES"), std::to_string(i));
    // The job's flags follow the `serve` subcommand of `worker`.
    EXPECT_LT(std::find(w.argv.begin(), w.argv.end(), "serve"),
              std::find(w.argv.begin(), w.argv.end(), "--model"));
  }
}

TEST(ServeLaunch, WorkersGetTheGpusOfTheLaunchersOwnCudaVisibleDevicesInOrder) {
  const VisibleDevices some("5,GPU-8f2c,7");
  const auto workers = serve_workers({.tp = 1, .replicas = 3, .cuda = true}, args());
  ASSERT_EQ(workers.size(), 3u);
  EXPECT_EQ(env(workers[0], "CUDA_VISIBLE_DEVICES"), "5");
  EXPECT_EQ(env(workers[1], "CUDA_VISIBLE_DEVICES"), "GPU-8f2c");
  EXPECT_EQ(env(workers[2], "CUDA_VISIBLE_DEVICES"), "7");
}

TEST(ServeLaunch, OneNodeRunsEveryReplicaWithoutGpus) {
  const auto workers =
      serve_workers({.tp = 2, .ep = 1, .replicas = 3, .nnodes = 1, .node_rank = 0}, args());
  ASSERT_EQ(workers.size(), 6u);
  for (int g = 0; g < 6; ++g) {
    EXPECT_EQ(flag(workers[g], "--replica"), std::to_string(g / 2));
    EXPECT_EQ(flag(workers[g], "--rank"), std::to_string(g % 2));
    EXPECT_EQ(flag(workers[g], "--local-rank"), std::to_string(g));
    EXPECT_EQ(flag(workers[g], "--device"), "cpu");
    EXPECT_EQ(env(workers[g], "CUDA_VISIBLE_DEVICES"),
              env(WorkerProcess{{}, environment_with({})}, "CUDA_VISIBLE_DEVICES"));
  }
}

// A restart respawns one replica's ranks with the same flags but a fresh rendezvous prefix.
TEST(ServeLaunch, ReplicaWorkersOfALaterGenerationRendezvousUnderAFreshPrefix) {
  const ServeLayout layout{.tp = 2, .ep = 1, .replicas = 3, .nnodes = 1, .node_rank = 0};
  const auto all = serve_workers(layout, args());
  const auto first = replica_workers(layout, args(), 1, 0);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].argv, all[2].argv);
  EXPECT_EQ(first[1].argv, all[3].argv);
  const auto third = replica_workers(layout, args(), 1, 2);
  ASSERT_EQ(third.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(flag(third[i], "--job"), "serve-7/replica-1/gen-2");
    EXPECT_EQ(flag(third[i], "--replica"), "1");
    EXPECT_EQ(flag(third[i], "--rank"), std::to_string(i));
    EXPECT_EQ(flag(third[i], "--local-rank"), std::to_string(2 + i));
  }
  // Over two nodes, node 1 holds none of replica 0's ranks.
  EXPECT_TRUE(replica_workers({.tp = 2, .replicas = 2, .nnodes = 2, .node_rank = 1}, args(), 0, 1)
                  .empty());
  EXPECT_THROW(replica_workers(layout, args(), 3, 0), Error);
}

TEST(ServeLaunch, LayoutsThatDoNotSplitAreRefused) {
  EXPECT_THROW(serve_workers({.tp = 2, .replicas = 1, .nnodes = 4}, args()), Error);
  EXPECT_THROW(serve_workers({.tp = 1, .replicas = 2, .nnodes = 2, .node_rank = 2}, args()),
               Error);
  EXPECT_THROW(serve_workers({.tp = 0}, args()), Error);
}

}  // namespace
}  // namespace mlaserve
