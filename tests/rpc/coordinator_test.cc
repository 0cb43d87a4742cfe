// The coordinator's admission, cancellation, deadlines and replica health, against the real
// `mlaserve serve` (tiny-v2 on loopback): every request ends with a finish reason or an error
// status, nothing is lost; requests beyond --max-queued-requests get RESOURCE_EXHAUSTED at once;
// a cancelled or timed-out request frees its cache blocks on the leader at once; a silent
// replica is taken out of service (UNAVAILABLE) and replaced.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "rpc/inference_client.h"
#include "runtime/core/error.h"
#include "tests/support/serve_process.h"

namespace mlaserve::rpc {
namespace {

using Clock = std::chrono::steady_clock;
using mlaserve::testing::ServeProcess;

std::string model() { return std::string(MLASERVE_TEST_DATA_DIR) + "/tiny-v2"; }

v1::GenerateRequest request(int64_t first_id, int64_t max_tokens) {
  v1::GenerateRequest r;
  for (int64_t i = 0; i < 8; ++i) r.add_prompt_token_ids(2 + (first_id + i) % 380);
  r.set_max_tokens(max_tokens);
  r.set_ignore_eos(true);
  r.mutable_sampling()->set_temperature(0);
  return r;
}

struct Ending {
  std::string finish_reason;  // empty when the request failed
  std::optional<ErrorCode> error;
  int64_t tokens = 0;
};

TEST(Coordinator, SixtyFourStreamsAndABurstBeyondTheLimitLoseNothing) {
  ServeProcess server({"--model", model(), "--max-queued-requests", "64"});
  ASSERT_TRUE(server.ready());
  InferenceClient client(server.address(), std::chrono::seconds(10));
  constexpr int kStreams = 64, kBurst = 16;
  // Long enough that all 64 are still running when the burst arrives.
  constexpr int64_t kTokens = 400;
  std::vector<Ending> endings(kStreams + kBurst);
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  auto run = [&](int i) {
    Ending& e = endings[i];
    bool counted = false;
    try {
      client.generate(request(i, kTokens), [&](const v1::GenerateResponse& r) {
        e.tokens += r.tokens_size();
        if (!counted) {
          counted = true;
          ++started;
        }
        if (!r.finish_reason().empty()) e.finish_reason = r.finish_reason();
      });
    } catch (const Error& err) {
      e.error = err.code();
    }
  };
  for (int i = 0; i < kStreams; ++i) threads.emplace_back(run, i);
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (started < kStreams && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(started, kStreams) << server.log();
  for (int i = kStreams; i < kStreams + kBurst; ++i) threads.emplace_back(run, i);
  for (auto& t : threads) t.join();
  int finished = 0, exhausted = 0;
  for (int i = 0; i < kStreams + kBurst; ++i) {
    const Ending& e = endings[i];
    if (i < kStreams) {
      EXPECT_EQ(e.finish_reason, "length") << "stream " << i;
      EXPECT_EQ(e.tokens, kTokens) << "stream " << i;
      EXPECT_FALSE(e.error.has_value()) << "stream " << i;
      finished += e.finish_reason == "length";
    } else {
      // Every burst request was refused while the 64 ran, with nothing streamed.
      EXPECT_EQ(e.error, ErrorCode::kResourceExhausted) << "burst " << i;
      EXPECT_EQ(e.tokens, 0);
      exhausted += e.error == ErrorCode::kResourceExhausted;
    }
  }
  EXPECT_EQ(finished, kStreams);
  EXPECT_EQ(exhausted, kBurst);
  EXPECT_EQ(server.stop(std::chrono::seconds(60)), 0) << server.log();
}

// After the client gives up, the leader's engine stops the request and frees its blocks at once:
// the replica's stats (from its heartbeats) show nothing running and an empty cache long before
// the request could have generated its max_tokens.
TEST(Coordinator, CancelledAndTimedOutRequestsAreAbortedOnTheLeader) {
  ServeProcess server({"--model", model()});
  ASSERT_TRUE(server.ready());
  InferenceClient client(server.address(), std::chrono::seconds(10));
  constexpr int64_t kLong = 2500;  // prompt 8 + 2500 < max_model_len 2560
  int64_t generated_before = 0;
  for (const bool by_deadline : {true, false}) {
    SCOPED_TRACE(by_deadline ? "deadline" : "cancel");
    int64_t received = 0;
    try {
      if (by_deadline) {
        client.generate(request(1, kLong), [&](const v1::GenerateResponse& r) {
          received += r.tokens_size();
        }, std::chrono::milliseconds(100));
      } else {
        client.generate(request(1, kLong), [&](const v1::GenerateResponse& r) {
          received += r.tokens_size();
          if (received >= 5) throw Error(ErrorCode::kCancelled, "the test walks away");
        });
      }
      ADD_FAILURE() << "the abandoned request finished";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), by_deadline ? ErrorCode::kDeadlineExceeded : ErrorCode::kCancelled)
          << e.what();
    }
    // Wait for a heartbeat showing the replica idle (they come every second).
    v1::ServerStats stats;
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    do {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      stats = client.server_stats();
    } while (Clock::now() < deadline &&
             (stats.replicas(0).running() != 0 || stats.replicas(0).cache_usage() != 0));
    ASSERT_EQ(stats.replicas_size(), 1);
    EXPECT_EQ(stats.in_flight(), 0);
    EXPECT_EQ(stats.replicas(0).outstanding_requests(), 0);
    EXPECT_EQ(stats.replicas(0).running(), 0);
    EXPECT_EQ(stats.replicas(0).waiting(), 0);
    EXPECT_EQ(stats.replicas(0).cache_usage(), 0.0);
    // Stopped early: far fewer tokens than asked for were ever generated.
    const int64_t generated = stats.replicas(0).generated_tokens() - generated_before;
    EXPECT_LT(generated, kLong / 2) << "received " << received;
    generated_before = stats.replicas(0).generated_tokens();
  }
  EXPECT_EQ(server.stop(std::chrono::seconds(60)), 0) << server.log();
}

// A client process killed mid-stream (its connection simply drops) has its request aborted on
// the leader like one that cancels.
TEST(Coordinator, AClientKilledMidStreamHasItsRequestAborted) {
  ServeProcess server({"--model", model()});
  ASSERT_TRUE(server.ready());
  InferenceClient client(server.address(), std::chrono::seconds(10));
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    execl(MLASERVE_BINARY, MLASERVE_BINARY, "client", "--addr", server.address().c_str(),
          "--prompt-ids", "5,6,7,8", "--max-tokens", "2500", "--ignore-eos", nullptr);
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  // Kill it shortly after the coordinator admitted its request (in_flight is the coordinator's
  // own count, current at once; the leader's figures lag by up to a heartbeat).
  const auto admitted = Clock::now() + std::chrono::seconds(30);
  while (client.server_stats().in_flight() == 0 && Clock::now() < admitted)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  v1::ServerStats stats;
  const auto idle = Clock::now() + std::chrono::seconds(10);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stats = client.server_stats();
  } while (Clock::now() < idle && (stats.in_flight() != 0 || stats.replicas(0).running() != 0 ||
                                   stats.replicas(0).cache_usage() != 0));
  EXPECT_EQ(stats.in_flight(), 0);
  EXPECT_EQ(stats.replicas(0).running(), 0);
  EXPECT_EQ(stats.replicas(0).cache_usage(), 0.0);
  EXPECT_LT(stats.replicas(0).generated_tokens(), 2500 / 2);
  EXPECT_EQ(server.stop(std::chrono::seconds(60)), 0) << server.log();
}

// SIGTERM while a request streams: it runs to its end, a request arriving during the drain gets
// UNAVAILABLE, and the server exits 0 afterwards.
TEST(Coordinator, SigtermDrainsTheRequestsInFlight) {
  ServeProcess server({"--model", model()});
  ASSERT_TRUE(server.ready());
  InferenceClient client(server.address(), std::chrono::seconds(10));
  constexpr int64_t kTokens = 2000;
  std::atomic<int64_t> received{0};
  std::string reason;
  std::optional<ErrorCode> failure;
  std::thread in_flight([&] {
    try {
      client.generate(request(1, kTokens), [&](const v1::GenerateResponse& r) {
        received += r.tokens_size();
        if (!r.finish_reason().empty()) reason = r.finish_reason();
      });
    } catch (const Error& e) {
      failure = e.code();
    }
  });
  const auto first = Clock::now() + std::chrono::seconds(30);
  while (received == 0 && Clock::now() < first)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ(kill(server.pid(), SIGTERM), 0);
  // Wait for the drain to begin (the server logs it), then knock.
  const auto logged = Clock::now() + std::chrono::seconds(10);
  while (server.log().find("draining") == std::string::npos && Clock::now() < logged)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  bool refused = false;
  try {
    client.generate(request(2, 4), [](const v1::GenerateResponse&) {});
  } catch (const Error& e) {
    refused = e.code() == ErrorCode::kUnavailable;
    EXPECT_NE(std::string(e.what()).find("shutting down"), std::string::npos) << e.what();
  }
  in_flight.join();
  EXPECT_FALSE(failure.has_value());
  EXPECT_EQ(received, kTokens);
  EXPECT_EQ(reason, "length");
  EXPECT_TRUE(refused);
  EXPECT_EQ(server.wait(std::chrono::seconds(60)), 0) << server.log();
}

// tiny-v2 caches 3 layers x (64 + 16) f32 values = 960 bytes a token: a 61440-byte budget is
// one block of 64 tokens. A request needing more can never run: RESOURCE_EXHAUSTED naming the
// blocks, and the replica goes on serving requests that fit.
TEST(Coordinator, RequestLargerThanTheWholeCacheGetsResourceExhausted) {
  ServeProcess server({"--model", model(), "--kv-cache-memory", "61440"});
  ASSERT_TRUE(server.ready());
  InferenceClient client(server.address(), std::chrono::seconds(10));
  try {
    client.generate(request(1, 100), [](const v1::GenerateResponse&) {});
    ADD_FAILURE() << "a request needing 2 blocks ran in a 1-block cache";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted) << e.what();
    EXPECT_NE(std::string(e.what()).find("block"), std::string::npos) << e.what();
  }
  int64_t tokens = 0;
  client.generate(request(1, 50),
                  [&](const v1::GenerateResponse& r) { tokens += r.tokens_size(); });
  EXPECT_EQ(tokens, 50);
  EXPECT_EQ(server.stop(std::chrono::seconds(60)), 0) << server.log();
}

// The leader pid `serve` logged for `replica`.
pid_t leader_pid(const ServeProcess& server, int replica) {
  const std::regex registered("replica " + std::to_string(replica) +
                              " registered \\(leader pid ([0-9]+)");
  const std::string log = server.log();
  pid_t pid = -1;  // the latest registration: a restarted replica registers again
  for (auto it = std::sregex_iterator(log.begin(), log.end(), registered);
       it != std::sregex_iterator(); ++it)
    pid = std::stoi((*it)[1]);
  return pid;
}

// A leader that hangs (SIGSTOP: alive, stream open, silent) is taken out of service after
// --heartbeat-timeout: its request in flight fails with UNAVAILABLE, new requests go to the
// other replica, and serve replaces the hung replica's processes (kills them, starts a new
// generation), which then serves again; the server still drains and exits 0.
TEST(Coordinator, SilentReplicasAreTakenOutOfServiceAndReplaced) {
  // 4 s: four missed heartbeats, so a loaded machine does not lose a healthy replica.
  ServeProcess server({"--model", model(), "--replicas", "2", "--heartbeat-timeout", "4"});
  ASSERT_TRUE(server.ready());
  const pid_t leader0 = leader_pid(server, 0), leader1 = leader_pid(server, 1);
  ASSERT_GT(leader0, 0) << server.log();
  ASSERT_GT(leader1, 0) << server.log();
  InferenceClient client(server.address(), std::chrono::seconds(10));

  // Both replicas idle: the first request goes to replica 0 (ties go to the lower index).
  std::atomic<int64_t> received{0};
  std::optional<ErrorCode> failure;
  std::thread in_flight([&] {
    try {
      client.generate(request(1, 2500), [&](const v1::GenerateResponse& r) {
        received += r.tokens_size();
      });
    } catch (const Error& e) {
      failure = e.code();
    }
  });
  const auto first = Clock::now() + std::chrono::seconds(30);
  while (received == 0 && Clock::now() < first)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(kill(leader0, SIGSTOP), 0);
  in_flight.join();
  EXPECT_EQ(failure, ErrorCode::kUnavailable);
  EXPECT_LT(received, 2500);

  // Replica 1 serves the next request.
  int64_t tokens = 0;
  client.generate(request(2, 16),
                  [&](const v1::GenerateResponse& r) { tokens += r.tokens_size(); });
  EXPECT_EQ(tokens, 16);

  // The hung leader is killed (SIGKILL reaches a stopped process) and replica 0 comes back.
  const auto back_by = Clock::now() + std::chrono::seconds(60);
  while (client.model_info().healthy_replicas() < 2 && Clock::now() < back_by)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(client.model_info().healthy_replicas(), 2) << server.log();
  EXPECT_NE(server.log().find("replica 0 is down; restarting"), std::string::npos)
      << server.log();
  EXPECT_NE(leader_pid(server, 0), leader0);
  EXPECT_NE(kill(leader0, 0), 0) << "the hung leader still lives";
  EXPECT_EQ(server.stop(std::chrono::seconds(60)), 0) << server.log();
}

}  // namespace
}  // namespace mlaserve::rpc
