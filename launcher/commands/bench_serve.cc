// `mlaserve bench serve --addr HOST:PORT --concurrency 1,8,32 --num-prompts N --input-len L
// --output-len M`: online serving throughput and latency against a running `mlaserve serve`,
// like vLLM's benchmark_serving with a fixed concurrency. For each concurrency level, N requests
// of L random prompt tokens and exactly M generated tokens (ignore_eos, greedy) are kept C at a
// time in flight; reported: requests/s, output tokens/s, and time to first token (TTFT) and time
// per output token after the first (TPOT), p50 and p99 over the requests.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>
#include <mutex>
#include <thread>

#include "CLI/CLI.hpp"
#include "launcher/commands/client_security.h"
#include "launcher/commands/commands.h"
#include "rpc/inference_client.h"
#include "runtime/core/error.h"

namespace mlaserve {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchServeFlags {
  std::string addr;
  std::string concurrency = "1,8,32";
  int64_t num_prompts = 64;
  int64_t input_len = 128;
  int64_t output_len = 128;
  uint64_t seed = 0;
  ClientSecurityFlags security;
};

struct Sample {
  double ttft_s = 0, tpot_s = 0;
  int64_t tokens = 0;
};

std::vector<int> parse_levels(const std::string& text) {
  std::vector<int> levels;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    int c = 0;
    try {
      c = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    MLA_ENSURE(used == item.size() && !item.empty() && c >= 1, kInvalidArgument,
               "--concurrency: '", item, "' is not a positive integer (expected e.g. 1,8,32)");
    levels.push_back(c);
  }
  MLA_ENSURE(!levels.empty(), kInvalidArgument, "--concurrency is empty");
  return levels;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
  return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];  // nearest rank
}

int run_bench_serve(const BenchServeFlags& f) {
  const std::vector<int> levels = parse_levels(f.concurrency);
  MLA_ENSURE(f.num_prompts >= 1, kInvalidArgument, "--num-prompts must be >= 1");
  MLA_ENSURE(f.input_len >= 1 && f.output_len >= 1, kInvalidArgument,
             "--input-len and --output-len must be >= 1");
  rpc::InferenceClient client(f.addr, std::chrono::seconds(10), load_client_security(f.security));
  const v1::ModelInfo info = client.model_info();
  MLA_ENSURE(f.input_len + f.output_len <= info.max_model_len(), kInvalidArgument,
             "--input-len + --output-len = ", f.input_len + f.output_len,
             " exceeds the model's max_model_len ", info.max_model_len());

  // The same prompts for every level; ids avoid 0/1 (bos/eos in our checkpoints' convention)
  // and vary per prompt so that prefix caching does not shortcut the prefill.
  std::mt19937_64 rng(f.seed);
  std::uniform_int_distribution<int64_t> id(2, info.vocab_size() - 1);
  std::vector<v1::GenerateRequest> requests(f.num_prompts);
  for (auto& r : requests) {
    for (int64_t i = 0; i < f.input_len; ++i) r.add_prompt_token_ids(id(rng));
    r.set_max_tokens(f.output_len);
    r.set_ignore_eos(true);
    r.mutable_sampling()->set_temperature(0);
  }

  std::printf("bench serve: %s (%s, %d replica(s) x tp %d), %lld prompts of %lld tokens, "
              "%lld output tokens each\n", f.addr.c_str(), info.model().c_str(), info.replicas(),
              info.tensor_parallel_size(), static_cast<long long>(f.num_prompts),
              static_cast<long long>(f.input_len), static_cast<long long>(f.output_len));
  std::printf("%11s %9s %12s %10s %10s %10s %10s %7s\n", "concurrency", "req/s", "out tok/s",
              "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99", "failed");
  for (const int c : levels) {
    std::vector<Sample> samples(requests.size());
    std::vector<bool> failed(requests.size(), false);
    std::atomic<size_t> next{0};
    std::string first_error;
    std::mutex error_mu;
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < std::min<int64_t>(c, f.num_prompts); ++t)
      threads.emplace_back([&] {
        for (size_t i; (i = next++) < requests.size();) {
          Sample& s = samples[i];
          const auto t0 = Clock::now();
          Clock::time_point first;
          try {
            client.generate(requests[i], [&](const v1::GenerateResponse& r) {
              if (s.tokens == 0 && r.tokens_size() > 0) first = Clock::now();
              s.tokens += r.tokens_size();
            });
          } catch (const Error& e) {
            failed[i] = true;
            std::lock_guard<std::mutex> lock(error_mu);
            if (first_error.empty()) first_error = e.what();
            continue;
          }
          const auto end = Clock::now();
          s.ttft_s = std::chrono::duration<double>(first - t0).count();
          if (s.tokens > 1)
            s.tpot_s = std::chrono::duration<double>(end - first).count() / (s.tokens - 1);
        }
      });
    for (auto& t : threads) t.join();
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<double> ttft, tpot;
    int64_t tokens = 0, n_failed = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
      if (failed[i]) {
        ++n_failed;
        continue;
      }
      ttft.push_back(samples[i].ttft_s * 1e3);
      tpot.push_back(samples[i].tpot_s * 1e3);
      tokens += samples[i].tokens;
    }
    std::printf("%11d %9.2f %12.1f %8.1fms %8.1fms %8.2fms %8.2fms %7lld\n", c,
                static_cast<double>(ttft.size()) / wall, static_cast<double>(tokens) / wall,
                percentile(ttft, 50), percentile(ttft, 99), percentile(tpot, 50),
                percentile(tpot, 99), static_cast<long long>(n_failed));
    std::fflush(stdout);
    if (!first_error.empty()) std::fprintf(stderr, "first failure: %s\n", first_error.c_str());
  }
  return 0;
}

}  // namespace

void add_bench_serve_command(CLI::App& app, std::function<int()>& action) {
  CLI::App* bench = app.get_subcommand("bench");  // registered by bench.cc
  auto f = std::make_shared<BenchServeFlags>();
  CLI::App* cmd = bench->add_subcommand(
      "serve", "Online throughput and latency against a running `mlaserve serve`");
  cmd->add_option("--addr", f->addr, "The server's HOST:PORT")->required();
  cmd->add_option("--concurrency", f->concurrency, "Requests in flight, one run per level")
      ->capture_default_str();
  cmd->add_option("--num-prompts", f->num_prompts, "Requests per concurrency level")
      ->capture_default_str();
  cmd->add_option("--input-len", f->input_len, "Prompt tokens per request")
      ->capture_default_str();
  cmd->add_option("--output-len", f->output_len, "Generated tokens per request")
      ->capture_default_str();
  cmd->add_option("--seed", f->seed, "Seed of the random prompts")->capture_default_str();
  add_client_security_options(*cmd, f->security);
  cmd->callback([f, &action] { action = [f] { return run_bench_serve(*f); }; });
}

}  // namespace mlaserve
