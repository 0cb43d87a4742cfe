// A soak run against the real `mlaserve serve` (tiny-v2, 2 replicas on loopback): 2,000 requests,
// 32 in flight, with random lengths, random client cancellations and random deadlines. Every
// request must end exactly once — with a finish reason and all its tokens, or with CANCELLED /
// DEADLINE_EXCEEDED — the engines must be idle with empty caches afterwards, and the resident
// memory of the server and of every worker must stay flat after warm-up.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
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

constexpr int kRequests = 2000;
constexpr int kConcurrency = 32;
constexpr int kWarmup = 300;  // requests before the first memory sample

std::string model() { return std::string(MLASERVE_TEST_DATA_DIR) + "/tiny-v2"; }

// VmRSS of `pid` in KiB; 0 when the process is gone.
int64_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  return 0;
}

// The workers' pids, from the launcher's "[launcher] replica K rank R pid P" lines.
std::vector<pid_t> worker_pids(const std::string& log) {
  std::vector<pid_t> pids;
  static const std::regex line(R"(\[launcher\] replica \d+ rank \d+ pid (\d+))");
  for (std::sregex_iterator it(log.begin(), log.end(), line), end; it != end; ++it)
    pids.push_back(static_cast<pid_t>(std::stol((*it)[1])));
  return pids;
}

struct Plan {
  int64_t prompt_len, max_tokens;
  int64_t cancel_after = -1;                     // >= 0: the client gives up after this many tokens
  std::optional<std::chrono::milliseconds> deadline;
};

struct Ending {
  int endings = 0;  // must end up exactly 1
  std::string finish_reason;
  std::optional<ErrorCode> error;
  int64_t tokens = 0;
};

struct GiveUp {};  // thrown from the response callback: the client cancels the call

TEST(Soak, TwoThousandRequestsWithCancellationsAndDeadlinesLoseNothingAndMemoryStaysFlat) {
  ServeProcess server({"--model", model(), "--replicas", "2"});
  ASSERT_TRUE(server.ready());
  const std::vector<pid_t> workers = worker_pids(server.log());
  ASSERT_EQ(workers.size(), 2u) << server.log();
  InferenceClient client(server.address(), std::chrono::seconds(10));

  std::mt19937_64 rng(20261123);
  std::vector<Plan> plans(kRequests);
  for (Plan& p : plans) {
    p.prompt_len = std::uniform_int_distribution<int64_t>(1, 96)(rng);
    p.max_tokens = std::uniform_int_distribution<int64_t>(1, 64)(rng);
    const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
    if (kind == 0 || kind == 1)
      p.cancel_after = std::uniform_int_distribution<int64_t>(0, p.max_tokens - 1)(rng);
    if (kind == 2 || kind == 3)
      p.deadline = std::chrono::milliseconds(std::uniform_int_distribution<int>(1, 300)(rng));
  }

  std::vector<Ending> endings(kRequests);
  std::atomic<int> next{0}, done{0};
  auto run = [&] {
    for (int i = next++; i < kRequests; i = next++) {
      const Plan& p = plans[i];
      v1::GenerateRequest r;
      for (int64_t t = 0; t < p.prompt_len; ++t) r.add_prompt_token_ids(2 + (i * 7 + t) % 380);
      r.set_max_tokens(p.max_tokens);
      r.set_ignore_eos(true);
      r.mutable_sampling()->set_temperature(0);
      Ending& e = endings[i];
      try {
        client.generate(r, [&](const v1::GenerateResponse& resp) {
          e.tokens += resp.tokens_size();
          if (!resp.finish_reason().empty()) e.finish_reason = resp.finish_reason();
          if (p.cancel_after >= 0 && e.tokens > p.cancel_after && e.finish_reason.empty())
            throw GiveUp{};
        }, p.deadline);
        ++e.endings;
      } catch (const GiveUp&) {
        e.error = ErrorCode::kCancelled;
        ++e.endings;
      } catch (const Error& err) {
        e.error = err.code();
        ++e.endings;
      }
      ++done;
    }
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < kConcurrency; ++t) threads.emplace_back(run);
  const std::vector<pid_t> pids = {server.pid(), workers[0], workers[1]};
  std::vector<int64_t> warm(pids.size()), peak(pids.size());
  const auto deadline = Clock::now() + std::chrono::minutes(10);
  while (done < kWarmup && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (size_t k = 0; k < pids.size(); ++k) peak[k] = warm[k] = rss_kib(pids[k]);
  while (done < kRequests && Clock::now() < deadline) {
    for (size_t k = 0; k < pids.size(); ++k) peak[k] = std::max(peak[k], rss_kib(pids[k]));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (auto& t : threads) t.join();  // every call has a deadline or ends with the server

  std::map<std::string, int> outcomes;
  for (int i = 0; i < kRequests; ++i) {
    const Ending& e = endings[i];
    const Plan& p = plans[i];
    ASSERT_EQ(e.endings, 1) << "request " << i;
    if (!e.error) {
      EXPECT_EQ(e.finish_reason, "length") << "request " << i;
      EXPECT_EQ(e.tokens, p.max_tokens) << "request " << i;
      ++outcomes["length"];
    } else if (*e.error == ErrorCode::kCancelled) {
      EXPECT_GE(p.cancel_after, 0) << "request " << i << " cancelled without the client asking";
      ++outcomes["cancelled"];
    } else {
      EXPECT_EQ(*e.error, ErrorCode::kDeadlineExceeded) << "request " << i;
      EXPECT_TRUE(p.deadline.has_value()) << "request " << i << " timed out without a deadline";
      ++outcomes["deadline"];
    }
  }
  EXPECT_GT(outcomes["cancelled"], 0);
  EXPECT_GT(outcomes["deadline"], 0);

  // Aborts reach the leaders and free their blocks: within a few heartbeats both engines are idle.
  bool idle = false;
  v1::ServerStats stats;
  for (const auto until = Clock::now() + std::chrono::seconds(10); !idle && Clock::now() < until;) {
    stats = client.server_stats();
    idle = stats.in_flight() == 0;
    for (const auto& r : stats.replicas())
      idle = idle && r.healthy() && r.running() == 0 && r.waiting() == 0 && r.cache_usage() == 0;
    if (!idle) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(idle) << stats.DebugString();

  const char* names[] = {"serve", "worker 0", "worker 1"};
  for (size_t k = 0; k < pids.size(); ++k) {
    const int64_t end = rss_kib(pids[k]);
    std::printf("soak: %s RSS after %d requests %.1f MiB, peak %.1f MiB, at the end %.1f MiB\n",
                names[k], kWarmup, warm[k] / 1024.0, peak[k] / 1024.0, end / 1024.0);
    // Flat: a leak of even 5 KiB a request would add ~8.5 MiB over the 1,700 after warm-up.
    EXPECT_LE(end - warm[k], 8 * 1024 + warm[k] / 20) << names[k];
  }
  std::printf("soak: %d length, %d cancelled, %d deadline exceeded\n", outcomes["length"],
              outcomes["cancelled"], outcomes["deadline"]);
  EXPECT_EQ(server.stop(std::chrono::seconds(60)), 0) << server.log();
}

}  // namespace
}  // namespace mlaserve::rpc
