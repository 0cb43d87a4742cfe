// `mlaserve serve` + `mlaserve client` as real processes on loopback: every reference case comes
// back, with one worker and with 2 replicas x tp 2 (ep 2), with exactly the tokens `mlaserve
// generate` gives (and DeepSeek's reference), logprobs within 1e-4; two "nodes" share one
// coordinator; bad requests get INVALID_ARGUMENT naming the field while the server keeps
// serving; SIGTERM stops the server with exit code 0.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "rpc/inference_client.h"
#include "runtime/core/error.h"
#include "tests/launcher/cli_output.h"
#include "tests/launcher/run_cli.h"
#include "tests/support/serve_process.h"

namespace mlaserve {
namespace {

using testing::test_data;
using testing::json_lines;

using testing::run_cli;
using testing::ServeProcess;

nlohmann::json cases(const std::string& model) {
  std::ifstream in(test_data(model) + "/cases.json");
  return nlohmann::json::parse(in);
}

// Every case of `model` as one prompts file.
std::string write_prompts(const std::string& model) {
  const std::string path = ::testing::TempDir() + "serve_prompts_" + model + "_" +
                           std::to_string(getpid()) + ".jsonl";
  std::ofstream out(path);
  const nlohmann::json all = cases(model);
  for (const auto& c : all["cases"])
    out << nlohmann::json{{"prompt_ids", c["prompt"]}}.dump() << "\n";
  return path;
}

const std::vector<std::string> kGreedy16 = {"--max-new-tokens", "16", "--ignore-eos", "--json",
                                            "--top-logprobs", "3"};

// The client's lines equal generate's: same tokens and finish reasons, the same top-3 tokens
// per step with logprobs within 1e-4; and the tokens are DeepSeek's reference tokens.
void expect_same_as_generate(const std::string& model, const std::string& client_out,
                             const std::string& generate_out) {
  const auto served = json_lines(client_out), offline = json_lines(generate_out);
  const auto all = cases(model)["cases"];
  ASSERT_EQ(served.size(), all.size()) << client_out;
  ASSERT_EQ(offline.size(), all.size()) << generate_out;
  for (size_t i = 0; i < all.size(); ++i) {
    SCOPED_TRACE(model + " case " + std::to_string(i));
    EXPECT_EQ(served[i]["index"], offline[i]["index"]);
    EXPECT_EQ(served[i]["prompt_ids"], offline[i]["prompt_ids"]);
    EXPECT_EQ(served[i]["tokens"], offline[i]["tokens"]);
    EXPECT_EQ(served[i]["tokens"].get<std::vector<int64_t>>(),
              all[i]["greedy_tokens"].get<std::vector<int64_t>>());
    EXPECT_EQ(served[i]["finish_reason"], offline[i]["finish_reason"]);
    const auto& a = served[i]["top_logprobs"];
    const auto& b = offline[i]["top_logprobs"];
    ASSERT_EQ(a.size(), b.size());
    for (size_t s = 0; s < a.size(); ++s) {
      ASSERT_EQ(a[s].size(), b[s].size());
      for (size_t k = 0; k < a[s].size(); ++k) {
        EXPECT_EQ(a[s][k][0], b[s][k][0]) << "step " << s;
        EXPECT_NEAR(a[s][k][1].get<double>(), b[s][k][1].get<double>(), 1e-4) << "step " << s;
      }
    }
  }
}

// One replica of one rank, and the layout: two replicas of tp 2 with ep 2 (4 workers).
const std::vector<std::vector<std::string>> kLayouts = {
    {}, {"--tp", "2", "--ep", "2", "--replicas", "2"}};

TEST(ServeCli, ReferenceCasesMatchGenerateThenSigtermExitsZero) {
  for (const auto& layout : kLayouts) {
    for (const std::string model : {"tiny-v2", "tiny-lite"}) {
      std::string name = model;
      for (const auto& a : layout) name += " " + a;
      SCOPED_TRACE(name);
      const std::string prompts = write_prompts(model);
      std::vector<std::string> serve = {"--model", test_data(model)};
      serve.insert(serve.end(), layout.begin(), layout.end());
      ServeProcess server(serve);
      ASSERT_TRUE(server.ready());
      std::vector<std::string> client = {"client", "--addr", server.address(), "--prompts-file",
                                         prompts};
      client.insert(client.end(), kGreedy16.begin(), kGreedy16.end());
      const auto served = run_cli(client);
      ASSERT_EQ(served.exit_code, 0) << served.output << "\nserver:\n" << server.log();
      std::vector<std::string> generate = {"generate", "--model", test_data(model), "--prompts-file",
                                           prompts};
      generate.insert(generate.end(), kGreedy16.begin(), kGreedy16.end());
      const auto offline = run_cli(generate);
      ASSERT_EQ(offline.exit_code, 0) << offline.output;
      expect_same_as_generate(model, served.output, offline.output);
      EXPECT_EQ(server.stop(std::chrono::seconds(60)), 0) << server.log();
      std::filesystem::remove(prompts);
    }
  }
}

// Sampling is seeded per request (prompt i of a file with --seed S + i, in client and generate
// alike), so sampled tokens do not depend on the replica, the batch or the arrival order: two
// client runs over two replicas both give exactly generate's tokens.
TEST(ServeCli, SampledRequestsGiveGeneratesTokensForTheSameSeed) {
  const std::string model = "tiny-v2";
  const std::string prompts = write_prompts(model);
  const std::vector<std::string> sampling = {"--max-new-tokens", "12", "--ignore-eos", "--json",
                                             "--temperature", "1.0", "--top-k", "40",
                                             "--top-p", "0.9", "--seed", "11"};
  std::vector<std::string> generate = {"generate", "--model", test_data(model), "--prompts-file",
                                       prompts};
  generate.insert(generate.end(), sampling.begin(), sampling.end());
  const auto offline = run_cli(generate);
  ASSERT_EQ(offline.exit_code, 0) << offline.output;
  const auto expected = json_lines(offline.output);
  ASSERT_EQ(expected.size(), cases(model)["cases"].size());

  ServeProcess server({"--model", test_data(model), "--replicas", "2"});
  ASSERT_TRUE(server.ready());
  for (int run = 0; run < 2; ++run) {
    std::vector<std::string> client = {"client", "--addr", server.address(), "--prompts-file",
                                       prompts};
    client.insert(client.end(), sampling.begin(), sampling.end());
    const auto served = run_cli(client);
    ASSERT_EQ(served.exit_code, 0) << served.output << "\nserver:\n" << server.log();
    const auto got = json_lines(served.output);
    ASSERT_EQ(got.size(), expected.size()) << served.output;
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_EQ(got[i]["tokens"], expected[i]["tokens"]) << "run " << run << " prompt " << i;
  }
  // Distinct seeds per prompt: not every prompt's sample may coincide with greedy decoding.
  const auto greedy = cases(model)["cases"];
  bool differs = false;
  for (size_t i = 0; i < expected.size(); ++i)
    differs |= expected[i]["tokens"].get<std::vector<int64_t>>() !=
               std::vector<int64_t>(greedy[i]["greedy_tokens"].begin(),
                                    greedy[i]["greedy_tokens"].begin() + 12);
  EXPECT_TRUE(differs) << "temperature 1 sampled exactly the greedy tokens for every prompt";
  EXPECT_EQ(server.stop(std::chrono::seconds(60)), 0) << server.log();
  std::filesystem::remove(prompts);
}

// A tp 2 replica idle for twice its collective timeout still serves: the leader's keep-alive
// plans (every second) keep its follower from timing out while it waits for the next step.
TEST(ServeCli, TpFollowersOutliveIdlePeriodsLongerThanTheirTimeout) {
  ServeProcess server({"--model", test_data("tiny-v2"), "--tp", "2", "--timeout", "3"});
  ASSERT_TRUE(server.ready());
  std::this_thread::sleep_for(std::chrono::seconds(7));
  const auto c = cases("tiny-v2")["cases"][1];
  std::string ids;
  for (int64_t id : c["prompt"]) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  const auto served = run_cli({"client", "--addr", server.address(), "--prompt-ids", ids,
                               "--max-tokens", "16", "--ignore-eos", "--json"});
  ASSERT_EQ(served.exit_code, 0) << served.output << "\nserver:\n" << server.log();
  const auto lines = json_lines(served.output);
  ASSERT_EQ(lines.size(), 1u) << served.output;
  EXPECT_EQ(lines[0]["tokens"], c["greedy_tokens"]);
  EXPECT_EQ(server.stop(std::chrono::seconds(60)), 0) << server.log();
}

// Two "nodes" on loopback: node 0 hosts the coordinator and replica 0, node 1 runs replica 1 and
// reaches the coordinator's cluster port through --coordinator, both sharing one cluster token
// file. The reference cases come back right with both replicas in service; when node 0 drains
// and stops, node 1's workers are shut down and it exits 0 too.
TEST(ServeCli, TwoNodesShareOneCoordinator) {
  const int cluster_port = ServeProcess::free_port();
  const std::string coordinator = "127.0.0.1:" + std::to_string(cluster_port);
  const std::string token_file =
      ::testing::TempDir() + "serve_cluster_token_" + std::to_string(getpid());
  std::ofstream(token_file) << "two-nodes-token\n";
  const std::vector<std::string> common = {"--model", test_data("tiny-v2"), "--replicas", "2",
                                           "--nnodes", "2", "--cluster-token-file", token_file};
  std::vector<std::string> node1 = common;
  node1.insert(node1.end(), {"--node-rank", "1", "--coordinator", coordinator});
  ServeProcess other(node1, {.port = 0, .wait_until_serving = false});
  std::vector<std::string> node0 = common;
  node0.insert(node0.end(), {"--node-rank", "0", "--cluster-port", std::to_string(cluster_port)});
  ServeProcess server(node0);
  ASSERT_TRUE(server.ready()) << other.log();
  const std::string prompts = write_prompts("tiny-v2");
  std::vector<std::string> client = {"client", "--addr", server.address(), "--prompts-file",
                                     prompts};
  client.insert(client.end(), kGreedy16.begin(), kGreedy16.end());
  const auto served = run_cli(client);
  ASSERT_EQ(served.exit_code, 0) << served.output;
  const auto lines = json_lines(served.output);
  const auto all = cases("tiny-v2")["cases"];
  ASSERT_EQ(lines.size(), all.size()) << served.output;
  for (size_t i = 0; i < all.size(); ++i)
    EXPECT_EQ(lines[i]["tokens"], all[i]["greedy_tokens"]) << "case " << i;
  const v1::ServerStats stats =
      rpc::InferenceClient(server.address(), std::chrono::seconds(10)).server_stats();
  ASSERT_EQ(stats.replicas_size(), 2);
  EXPECT_TRUE(stats.replicas(0).healthy());
  EXPECT_TRUE(stats.replicas(1).healthy());
  EXPECT_EQ(server.stop(std::chrono::seconds(60)), 0) << server.log();
  EXPECT_EQ(other.wait(std::chrono::seconds(60)), 0) << other.log();
  std::filesystem::remove(prompts);
  std::filesystem::remove(token_file);
}

TEST(ServeCli, BadRequestsGetInvalidArgumentAndTheServerKeepsServing) {
  ServeProcess server({"--model", test_data("tiny-v2")});  // vocab 384, max_model_len 2560
  ASSERT_TRUE(server.ready());
  rpc::InferenceClient client(server.address(), std::chrono::seconds(10));
  const auto base = [] {
    v1::GenerateRequest r;
    r.add_prompt_token_ids(5);
    r.add_prompt_token_ids(6);
    r.set_max_tokens(4);
    return r;
  };
  struct Case {
    std::string what, needle;
    v1::GenerateRequest request;
  };
  std::vector<Case> bad;
  {
    auto r = base();
    r.add_prompt_token_ids(384);
    bad.push_back({"token id = vocab size", "prompt_token_ids[2] = 384", r});
  }
  {
    auto r = base();
    r.set_prompt_token_ids(0, -1);
    bad.push_back({"negative token id", "prompt_token_ids[0] = -1", r});
  }
  {
    auto r = base();
    r.clear_prompt_token_ids();
    bad.push_back({"empty prompt", "prompt_token_ids is empty", r});
  }
  {
    auto r = base();
    r.set_max_tokens(0);
    bad.push_back({"max_tokens 0", "max_tokens must be >= 1", r});
  }
  {
    auto r = base();
    r.set_max_tokens(-3);
    bad.push_back({"max_tokens negative", "max_tokens must be >= 1", r});
  }
  {
    auto r = base();
    r.set_max_tokens(2559);
    bad.push_back({"max_tokens beyond max_model_len", "max_tokens 2559 is too large", r});
  }
  {
    auto r = base();
    r.clear_prompt_token_ids();
    for (int i = 0; i < 2560; ++i) r.add_prompt_token_ids(2 + i % 300);
    bad.push_back({"prompt as long as max_model_len", "prompt_token_ids holds 2560 tokens", r});
  }
  for (double top_p : {0.0, -0.5, 1.5}) {
    auto r = base();
    r.mutable_sampling()->set_top_p(top_p);
    bad.push_back({"top_p " + std::to_string(top_p), "sampling.top_p must be in (0, 1]", r});
  }
  {
    auto r = base();
    r.add_stop_token_ids(999);
    bad.push_back({"stop token outside the vocabulary", "stop_token_ids[0] = 999", r});
  }
  for (const Case& c : bad) {
    SCOPED_TRACE(c.what);
    try {
      client.generate(c.request, [](const v1::GenerateResponse&) {});
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.needle), std::string::npos) << e.what();
    }
  }
  // Still serving: a good request gets DeepSeek's greedy tokens, streamed, with usage counts.
  const auto ref = cases("tiny-v2")["cases"][2];
  v1::GenerateRequest good;
  for (int64_t id : ref["prompt"]) good.add_prompt_token_ids(id);
  good.set_max_tokens(16);
  good.set_ignore_eos(true);
  good.mutable_sampling()->set_temperature(0);
  good.set_request_id("good-one");
  std::vector<int64_t> tokens;
  v1::GenerateResponse last;
  client.generate(good, [&](const v1::GenerateResponse& r) {
    EXPECT_EQ(r.request_id(), "good-one");
    for (const auto& t : r.tokens()) tokens.push_back(t.token_id());
    last = r;
  });
  EXPECT_EQ(tokens, ref["greedy_tokens"].get<std::vector<int64_t>>());
  EXPECT_EQ(last.finish_reason(), "length");
  EXPECT_EQ(last.usage().prompt_tokens(), static_cast<int64_t>(ref["prompt"].size()));
  EXPECT_EQ(last.usage().completion_tokens(), 16);
  // The client CLI reports a bad request with exit code 2 and the server's message.
  const auto cli = run_cli({"client", "--addr", server.address(), "--prompt-ids", "5,400"});
  EXPECT_EQ(cli.exit_code, 2) << cli.output;
  EXPECT_NE(cli.output.find("outside the vocabulary"), std::string::npos) << cli.output;
}

// Bad flags are refused before a port is opened or a worker spawned: exit 2, the flag named.
TEST(ServeCli, BadFlagsExitWithCode2BeforeStarting) {
  const std::string model = test_data("tiny-v2");  // 8 heads, 16 routed experts
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  const std::vector<Case> bad = {
      {{"--model", model, "--tp", "3"}, "--tp 3"},
      {{"--model", model, "--tp", "2", "--ep", "4"}, "--ep"},
      {{"--model", model, "--replicas", "0"}, "--replicas"},
      {{"--model", model, "--replicas", "3", "--nnodes", "2"}, "--nnodes"},
      {{"--model", model, "--replicas", "2", "--nnodes", "2", "--node-rank", "1"}, "--coordinator"},
      {{"--model", model, "--cluster-port", "70000"}, "--cluster-port"},
      // A replica split over two nodes cannot use loopback for its collectives.
      {{"--model", model, "--tp", "2", "--nnodes", "2", "--node-rank", "1", "--coordinator",
        "10.0.0.1:1"},
       "--gloo-host"},
      {{"--model", model, "--node-rank", "1"}, "--node-rank"},
      {{"--model", model, "--device", "tpu"}, "--device"},
      {{"--model", model, "--max-queued-requests", "0"}, "--max-queued-requests"},
      {{"--model", model, "--timeout", "1"}, "--timeout must exceed 2 s"},
      {{"--model", model, "--kv-cache-memory", "12 parsecs"}, "--kv-cache-memory"},
      {{"--model", model, "--dtype", "float16"}, "--dtype"},
      {{"--model", test_data("nowhere")}, "nowhere"},
  };
  for (const Case& c : bad) {
    std::vector<std::string> args = {"serve", "--port", "0"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << c.needle << "\n" << r.output;
    EXPECT_NE(r.output.find(c.needle), std::string::npos) << c.needle << "\n" << r.output;
    EXPECT_EQ(r.output.find("[launcher]"), std::string::npos) << "spawned workers:\n" << r.output;
  }
  // --device cuda where no GPU is visible (CUDA_VISIBLE_DEVICES="" hides every GPU, so this runs
  // the same on a GPU machine): exit 2 naming the device count, before anything starts.
  {
    const char* old = std::getenv("CUDA_VISIBLE_DEVICES");
    const std::string saved = old ? old : "";
    ::setenv("CUDA_VISIBLE_DEVICES", "", 1);
    const auto cuda = run_cli({"serve", "--port", "0", "--model", model, "--device", "cuda",
                               "--replicas", "2"});
    if (old) ::setenv("CUDA_VISIBLE_DEVICES", saved.c_str(), 1);
    else ::unsetenv("CUDA_VISIBLE_DEVICES");
    EXPECT_EQ(cuda.exit_code, 2) << cuda.output;
    EXPECT_NE(cuda.output.find("--device cuda: no CUDA device is visible on this machine (CUDA "
                               "device count 0"),
              std::string::npos)
        << cuda.output;
    EXPECT_EQ(cuda.output.find("[launcher]"), std::string::npos) << cuda.output;
    EXPECT_EQ(cuda.output.find("coordinator on"), std::string::npos) << cuda.output;
  }
  // A client with no server behind its address: exit 1, the address named.
  const auto r = run_cli({"client", "--addr", "127.0.0.1:1", "--prompt-ids", "5",
                          "--connect-timeout", "0.5"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("127.0.0.1:1"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace mlaserve
