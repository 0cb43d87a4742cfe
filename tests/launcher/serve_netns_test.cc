// `mlaserve serve --nnodes 2` across two network namespaces joined by a veth pair: one replica
// whose two TP/EP ranks sit on different "nodes", so its Gloo collectives, its rendezvous and
// the follower's Dispatch-less life all cross a real link with real addresses. The reference
// case comes back over the network; then node 1's link goes down (silence, not a closed
// socket): a new request must get a status (UNAVAILABLE or DEADLINE_EXCEEDED), not a hang, and
// node 0, whose only worker went with the replica, must exit rather than linger. Skips where
// namespaces cannot be made (not root / no CAP_NET_ADMIN).
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "rpc/inference_client.h"
#include "runtime/core/error.h"
#include "tests/support/netns.h"
#include "tests/support/serve_process.h"
#include "tests/launcher/cli_output.h"

namespace mlaserve {
namespace {

using testing::test_data;

// What node 0 logs when the split replica is gone: multi-node replicas are not restarted
// (docs/serve.md "Failures and restarts"), so it is down for good and node 0 shuts down.
constexpr const char* kReplicaDownLine = "every replica is down and out of restarts";

using testing::NetnsPair;
using testing::ServeProcess;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The coordinator's healthy_replicas as seen from inside namespace `ns`, or why not.
std::string healthy_replicas(const std::string& ns, const std::string& address) {
  return testing::run_in_netns(
      ns,
      [&] {
        try {
          return std::to_string(
              rpc::InferenceClient(address, std::chrono::seconds(5)).model_info().healthy_replicas());
        } catch (const Error& e) {
          return std::string("error: ") + e.what();
        }
      },
      std::chrono::seconds(30));
}

// From inside `ns`, one client asks GetModelInfo every 50 ms (the window in which a shutting
// down node 0 still answers is about a second) until healthy_replicas reads 0, an error comes,
// or `within` passes. Returns "0 after S" or "error after S: ..." or "timeout: N".
std::string watch_for_unhealthy(const std::string& ns, const std::string& address,
                                std::chrono::seconds within) {
  return testing::run_in_netns(
      ns,
      [&] {
        const auto start = Clock::now();
        try {
          rpc::InferenceClient client(address, std::chrono::seconds(5));
          int32_t healthy = -1;
          while (Clock::now() - start < within) {
            healthy = client.model_info().healthy_replicas();
            if (healthy == 0) return "0 after " + std::to_string(seconds_since(start));
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
          return "timeout: " + std::to_string(healthy);
        } catch (const Error& e) {
          return "error after " + std::to_string(seconds_since(start)) + ": " + e.what();
        }
      },
      within + std::chrono::seconds(15));
}

TEST(ServeNetns, ReplicaSplitOverTwoNodesServesAndIsTakenOutWhenANodeIsCut) {
  NetnsPair net;
  if (!net.skip_reason().empty()) GTEST_SKIP() << net.skip_reason();
  ASSERT_TRUE(net.setup_error().empty()) << net.setup_error();

  // Each namespace has its own ports: fixed ones cannot collide with anything else running.
  const std::string coordinator = std::string(NetnsPair::kAddressA) + ":29400";
  const std::string address = std::string(NetnsPair::kAddressA) + ":50051";
  const std::string token_file =
      ::testing::TempDir() + "serve_netns_token_" + std::to_string(getpid());
  std::ofstream(token_file) << "netns-token\n";
  // --timeout 5: a silent peer fails a collective within 5 s; --heartbeat-timeout 5 likewise
  // bounds a leader that stops reporting.
  const std::vector<std::string> common = {"--model", test_data("tiny-v2"), "--tp", "2", "--ep", "2",
                                           "--replicas", "1", "--nnodes", "2",
                                           "--cluster-token-file", token_file, "--timeout", "5",
                                           "--heartbeat-timeout", "5"};
  std::vector<std::string> node1 = common;
  node1.insert(node1.end(), {"--node-rank", "1", "--coordinator", coordinator, "--gloo-host",
                             NetnsPair::kAddressB});
  ServeProcess other(node1, {.port = 0,
                             .wait_until_serving = false,
                             .host = NetnsPair::kAddressB,
                             .exec_prefix = NetnsPair::exec_in(net.b())});
  std::vector<std::string> node0 = common;
  node0.insert(node0.end(), {"--node-rank", "0", "--cluster-host", NetnsPair::kAddressA,
                             "--cluster-port", "29400", "--gloo-host", NetnsPair::kAddressA});
  ServeProcess server(node0, {.port = 50051,
                              .host = NetnsPair::kAddressA,
                              .exec_prefix = NetnsPair::exec_in(net.a())});
  ASSERT_TRUE(server.ready()) << other.log();
  ASSERT_EQ(server.address(), address);

  // The reference case over the network, from a client inside node 0's namespace.
  std::ifstream cases_in(test_data("tiny-v2") + "/cases.json");
  const nlohmann::json reference = nlohmann::json::parse(cases_in)["cases"][0];
  std::string prompt_ids;
  for (const auto& id : reference["prompt"])
    prompt_ids += (prompt_ids.empty() ? "" : ",") + std::to_string(id.get<int64_t>());
  const auto served = testing::run_mlaserve_in(
      net.a(),
      {"client", "--addr", address, "--prompt-ids", prompt_ids, "--max-new-tokens", "16",
       "--ignore-eos", "--json", "--timeout", "60"},
      90);
  ASSERT_EQ(served.exit_code, 0) << served.output << "\nnode 0:\n" << server.log()
                                 << "\nnode 1:\n" << other.log();
  std::istringstream lines(served.output);
  std::string line;
  while (std::getline(lines, line) && (line.empty() || line[0] != '{')) {
  }
  ASSERT_FALSE(line.empty()) << served.output;
  EXPECT_EQ(nlohmann::json::parse(line)["tokens"], reference["greedy_tokens"]);
  ASSERT_EQ(healthy_replicas(net.a(), address), "1");

  // Node 1 goes silent. Even idle, the leader's next keep-alive broadcast (every second) waits
  // for node 1 to take it, so it fails at --timeout and the replica goes out of service; node 0
  // then shuts down, its only worker gone. The window in which GetModelInfo still answers "0"
  // is about a second, so the log line that starts the shutdown counts as the report too.
  ASSERT_EQ(net.cut_b().exit_code, 0);
  const auto cut = Clock::now();
  const std::string watched = watch_for_unhealthy(net.a(), address, std::chrono::seconds(12));
  std::cout << "netns: idle, after the cut GetModelInfo read healthy_replicas " << watched << "\n";
  ASSERT_TRUE(watched.rfind("0 after ", 0) == 0 ||
              server.log().find(kReplicaDownLine) != std::string::npos)
      << watched << "\nnode 0:\n" << server.log();
  RecordProperty("unhealthy_after_cut_ms", static_cast<int>(seconds_since(cut) * 1000));

  const auto asked = Clock::now();
  const std::string refused = testing::run_in_netns(
      net.a(),
      [&] {
        v1::GenerateRequest request;
        for (const auto& id : reference["prompt"]) request.add_prompt_token_ids(id.get<int64_t>());
        request.set_max_tokens(4);
        try {
          rpc::InferenceClient(address, std::chrono::seconds(5))
              .generate(request, [](const v1::GenerateResponse&) {}, std::chrono::seconds(20));
          return std::string("OK");
        } catch (const Error& e) {
          return std::string(error_code_name(e.code())) + ": " + e.what();
        }
      },
      std::chrono::seconds(40));
  const double answer_s = seconds_since(asked);
  std::cout << "netns: a request after the cut was answered in " << answer_s << " s: " << refused
            << "\n";
  // "no healthy replica" while node 0 shuts down, "cannot reach" once it has exited.
  EXPECT_TRUE(std::regex_search(refused, std::regex("^(UNAVAILABLE|DEADLINE_EXCEEDED): ")))
      << refused;
  EXPECT_LT(answer_s, 25) << "the request's own deadline is 20 s";
  RecordProperty("answer_after_cut_ms", static_cast<int>(answer_s * 1000));

  // Node 0 lost its only worker with the replica: it must exit, with an error, rather than
  // linger with nothing to serve.
  EXPECT_NE(server.wait(std::chrono::seconds(30)), 0) << server.log();
  EXPECT_NE(server.log().find(kReplicaDownLine), std::string::npos)
      << server.log();
  std::cout << "netns: node 0 had exited by " << seconds_since(cut) << " s after the cut\n";

  // Node 1's follower misses its keep-alives and fails within --timeout; any exit code.
  other.stop(std::chrono::seconds(30));
  std::filesystem::remove(token_file);
}

}  // namespace
}  // namespace mlaserve
