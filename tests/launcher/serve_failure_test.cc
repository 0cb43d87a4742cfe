// `mlaserve serve` staying up (docs/serve.md "Failures and restarts"), as real processes on
// loopback: 2 replicas x tp 2, 16 long greedy streams in flight, then `kill -9` of replica 0's
// follower and, once the replica is back, of its (new) leader. Each time every request ends
// within 10 s of the kill with generate's exact tokens and "length", or with UNAVAILABLE (only
// the killed replica's requests may fail); the replica serves again within 60 s; the restarted
// replica's engine holds no blocks once idle; after SIGTERM no worker process is left. The test
// prints the recovery time and the number of failed requests per kill.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <regex>
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

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::run_cli;
using testing::ServeProcess;

constexpr int kRequests = 16;
// Long enough that the streams are still running at the kill, short enough for the model.
constexpr int64_t kMaxTokens = 2000;

std::vector<std::vector<int64_t>> prompts() {
  std::ifstream in(test_data("tiny-v2") + "/cases.json");
  std::vector<std::vector<int64_t>> out;
  const nlohmann::json all = nlohmann::json::parse(in);
  for (const auto& c : all["cases"])
    out.push_back(c["prompt"].get<std::vector<int64_t>>());
  return out;
}

// generate's greedy tokens for every prompt: what an untouched request must stream.
std::vector<std::vector<int64_t>> generate_tokens(const std::vector<std::vector<int64_t>>& ps) {
  const std::string path = ::testing::TempDir() + "serve_failure_prompts_" +
                           std::to_string(getpid()) + ".jsonl";
  {
    std::ofstream out(path);
    for (const auto& p : ps) out << nlohmann::json{{"prompt_ids", p}}.dump() << "\n";
  }
  const auto r = run_cli({"generate", "--model", test_data("tiny-v2"), "--prompts-file", path,
                          "--max-new-tokens", std::to_string(kMaxTokens), "--ignore-eos",
                          "--json"});
  std::filesystem::remove(path);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::vector<int64_t>> tokens;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] == '{')
      tokens.push_back(nlohmann::json::parse(line)["tokens"].get<std::vector<int64_t>>());
  return tokens;
}

struct Outcome {
  std::vector<int64_t> tokens;
  std::string finish_reason;
  std::optional<ErrorCode> error;
  std::string message;
  Clock::time_point ended;
};

// kRequests greedy streams, prompt i % prompts, each on its own thread.
class Load {
 public:
  Load(const std::string& address, const std::vector<std::vector<int64_t>>& ps)
      : outcomes_(kRequests), started_(kRequests) {
    for (int i = 0; i < kRequests; ++i)
      threads_.emplace_back([this, address, &ps, i] {
        Outcome& o = outcomes_[i];
        try {
          rpc::InferenceClient client(address, 10s);
          v1::GenerateRequest request;
          for (int64_t t : ps[i % ps.size()]) request.add_prompt_token_ids(t);
          request.mutable_sampling()->set_temperature(0);
          request.set_max_tokens(kMaxTokens);
          request.set_ignore_eos(true);
          request.set_request_id("load-" + std::to_string(i));
          client.generate(request, [&](const v1::GenerateResponse& r) {
            for (const auto& t : r.tokens()) o.tokens.push_back(t.token_id());
            if (!r.finish_reason().empty()) o.finish_reason = r.finish_reason();
            if (!o.tokens.empty()) started_[i] = true;
          }, 600s);
        } catch (const Error& e) {
          o.error = e.code();
          o.message = e.what();
        }
        o.ended = Clock::now();
      });
  }
  ~Load() { join(); }
  // True once every request has streamed a token (all are running on their replicas).
  bool all_streaming() const {
    for (const auto& s : started_)
      if (!s) return false;
    return true;
  }
  void join() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  const std::vector<Outcome>& outcomes() const { return outcomes_; }

 private:
  std::vector<Outcome> outcomes_;
  std::vector<std::atomic<bool>> started_;
  std::vector<std::thread> threads_;
};

// The pid the server last logged for `who` ("replica 0 rank 1").
pid_t logged_pid(const std::string& log, const std::string& who) {
  const std::regex line("\\[launcher\\] " + who + " pid ([0-9]+)");
  pid_t pid = -1;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator();
       ++it)
    pid = std::stoi((*it)[1]);
  return pid;
}

std::vector<pid_t> all_logged_pids(const std::string& log) {
  const std::regex line("\\[launcher\\] replica [0-9]+ rank [0-9]+ pid ([0-9]+)");
  std::vector<pid_t> pids;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator();
       ++it)
    pids.push_back(std::stoi((*it)[1]));
  return pids;
}

bool alive(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

int healthy_replicas(const std::string& address) {
  try {
    return rpc::InferenceClient(address, 2s).model_info().healthy_replicas();
  } catch (const Error&) {
    return -1;
  }
}

// Polls until healthy_replicas == `n`; the time it took, or nullopt past `within`.
std::optional<double> until_healthy(const std::string& address, int n, Clock::time_point since,
                                    std::chrono::seconds within) {
  while (Clock::now() < since + within) {
    if (healthy_replicas(address) == n)
      return std::chrono::duration<double>(Clock::now() - since).count();
    std::this_thread::sleep_for(100ms);
  }
  return std::nullopt;
}

struct KillReport {
  double recovery_s = -1;
  double slowest_failure_s = 0;  // kill -> the last UNAVAILABLE
  int failed = 0, requeued_or_untouched = 0;
};

// Starts the load, kills `who` of replica 0 once every request streams, checks every outcome,
// and waits for the replica to serve again.
KillReport kill_during_load(ServeProcess& server, const std::string& who,
                            const std::vector<std::vector<int64_t>>& ps,
                            const std::vector<std::vector<int64_t>>& expected) {
  KillReport report;
  const pid_t victim = logged_pid(server.log(), who);
  EXPECT_GT(victim, 0) << server.log();
  if (victim <= 0) return report;
  Load load(server.address(), ps);
  const auto wait_until = Clock::now() + 120s;
  while (!load.all_streaming() && Clock::now() < wait_until) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(load.all_streaming()) << server.log();
  const auto killed_at = Clock::now();
  EXPECT_EQ(kill(victim, SIGKILL), 0);
  // Recovery is timed while the other replica's streams still run.
  std::optional<double> back, dropped;
  std::thread watch([&] {
    dropped = until_healthy(server.address(), 1, killed_at, 10s);
    back = until_healthy(server.address(), 2, killed_at, 60s);
  });
  load.join();
  watch.join();
  EXPECT_TRUE(dropped.has_value()) << "the replica was never taken out of service";
  for (int i = 0; i < kRequests; ++i) {
    SCOPED_TRACE(who + ", request " + std::to_string(i));
    const Outcome& o = load.outcomes()[i];
    if (o.error) {
      EXPECT_EQ(*o.error, ErrorCode::kUnavailable) << o.message;
      EXPECT_LT(o.ended - killed_at, 10s) << o.message;
      report.slowest_failure_s = std::max(
          report.slowest_failure_s, std::chrono::duration<double>(o.ended - killed_at).count());
      ++report.failed;
    } else {
      EXPECT_EQ(o.finish_reason, "length");
      EXPECT_EQ(o.tokens, expected[i % expected.size()]);
      ++report.requeued_or_untouched;
    }
  }
  // Only replica 0's share can fail; least-outstanding routing gave it half.
  EXPECT_LE(report.failed, kRequests / 2 + 1);
  EXPECT_TRUE(back.has_value()) << server.log();
  if (back) report.recovery_s = *back;
  return report;
}

TEST(ServeFailures, KilledFollowerThenLeaderOnlyTheirReplicaFailsAndItComesBack) {
  const auto ps = prompts();
  const auto expected = generate_tokens(ps);
  ASSERT_EQ(expected.size(), ps.size());
  ServeProcess server({"--model", test_data("tiny-v2"), "--tp", "2", "--ep", "2", "--replicas", "2",
                       "--timeout", "10"});
  ASSERT_TRUE(server.ready());

  std::vector<KillReport> reports;
  for (const std::string who : {"replica 0 rank 1", "replica 0 rank 0"}) {
    SCOPED_TRACE("kill -9 " + who);
    reports.push_back(kill_during_load(server, who, ps, expected));
    std::printf("[ serve failure ] kill -9 %s: %d of %d requests failed (UNAVAILABLE, the last "
                "%.2f s after the kill), replica serving again after %.2f s\n",
                who.c_str(), reports.back().failed, kRequests, reports.back().slowest_failure_s,
                reports.back().recovery_s);
    std::fflush(stdout);
    ASSERT_GE(reports.back().recovery_s, 0) << server.log();

    // The restarted replica takes new requests: two at once go one to each replica.
    rpc::InferenceClient client(server.address(), 10s);
    const int64_t before = client.server_stats().replicas(0).generated_tokens();
    std::vector<std::thread> pair;
    std::vector<std::string> reasons(2);
    for (int j = 0; j < 2; ++j)
      pair.emplace_back([&, j] {
        v1::GenerateRequest request;
        for (int64_t t : ps[j]) request.add_prompt_token_ids(t);
        request.mutable_sampling()->set_temperature(0);
        request.set_max_tokens(200);
        request.set_ignore_eos(true);
        try {
          rpc::InferenceClient(server.address(), 10s).generate(request, [&](const auto& r) {
            if (!r.finish_reason().empty()) reasons[j] = r.finish_reason();
          }, 120s);
        } catch (const Error& e) {
          reasons[j] = e.what();
        }
      });
    for (auto& t : pair) t.join();
    EXPECT_EQ(reasons[0], "length");
    EXPECT_EQ(reasons[1], "length");
    // Heartbeats carry the count: wait for the next one.
    const auto until = Clock::now() + 10s;
    while (client.server_stats().replicas(0).generated_tokens() <= before && Clock::now() < until)
      std::this_thread::sleep_for(100ms);
    EXPECT_GT(client.server_stats().replicas(0).generated_tokens(), before)
        << "no new request reached the restarted replica";
  }

  // Idle: no request in flight, nothing running, no cache block held (heartbeats report it).
  rpc::InferenceClient client(server.address(), 10s);
  const auto idle_until = Clock::now() + 15s;
  auto idle = [&] {
    const auto stats = client.server_stats();
    bool all = stats.in_flight() == 0;
    for (const auto& r : stats.replicas())
      all = all && r.healthy() && r.running() == 0 && r.waiting() == 0 && r.cache_usage() == 0;
    return all;
  };
  while (!idle() && Clock::now() < idle_until) std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(idle()) << client.server_stats().DebugString();

  const auto pids = all_logged_pids(server.log());
  EXPECT_EQ(pids.size(), 4u + 2u + 2u);  // two restarts of replica 0's two workers
  EXPECT_EQ(server.stop(60s), 0) << server.log();
  const auto gone_by = Clock::now() + 10s;
  for (pid_t pid : pids) {
    while (alive(pid) && Clock::now() < gone_by) std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(alive(pid)) << "worker pid " << pid << " outlived serve";
  }
}

// Restarts are bounded: with --max-restarts 0 a dead worker takes its replica out of service for
// good, the other replica keeps serving (health stays SERVING), and when the last replica goes
// too, serve exits 1 and leaves no worker behind.
TEST(ServeFailures, WithoutRestartsTheLastReplicaDownEndsTheServer) {
  ServeProcess server({"--model", test_data("tiny-v2"), "--replicas", "2", "--max-restarts", "0"});
  ASSERT_TRUE(server.ready());
  const auto pids = all_logged_pids(server.log());
  ASSERT_EQ(pids.size(), 2u) << server.log();
  ASSERT_EQ(kill(logged_pid(server.log(), "replica 0 rank 0"), SIGKILL), 0);
  EXPECT_TRUE(until_healthy(server.address(), 1, Clock::now(), 10s).has_value());
  std::this_thread::sleep_for(2s);  // past the first backoff: no restart comes
  EXPECT_EQ(healthy_replicas(server.address()), 1);
  const auto r = run_cli({"client", "--addr", server.address(), "--prompt-ids", "1,2,3",
                          "--max-new-tokens", "4"});
  EXPECT_EQ(r.exit_code, 0) << r.output << server.log();
  ASSERT_EQ(kill(logged_pid(server.log(), "replica 1 rank 0"), SIGKILL), 0);
  EXPECT_EQ(server.wait(30s), 1) << server.log();
  EXPECT_NE(server.log().find("every replica is down"), std::string::npos) << server.log();
  for (pid_t pid : pids) EXPECT_FALSE(alive(pid)) << pid;
}

}  // namespace
}  // namespace mlaserve
