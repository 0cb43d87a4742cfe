// `mlaserve client --addr HOST:PORT (--prompt-ids ... | --prompts-file F)`: sends each prompt as
// one Generate stream (all prompts at once, like generate's one batch). One prompt in text mode
// prints its tokens as they arrive; --json prints, once all are done, exactly the lines
// `generate --json` prints. Timings go to stderr. Exit code: 0, or that of the first failed
// request (2 for INVALID_ARGUMENT, 1 otherwise); the others are still printed.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "CLI/CLI.hpp"
#include "launcher/commands/client_security.h"
#include "launcher/commands/commands.h"
#include "launcher/commands/generate_job.h"
#include "launcher/exit_code.h"
#include "rpc/inference_client.h"
#include "runtime/core/error.h"

namespace mlaserve {
namespace {

using Clock = std::chrono::steady_clock;

struct ClientFlags {
  std::string addr;
  std::string prompt_ids, prompts_file;
  int64_t max_tokens = 16;
  double temperature = 0.0;  // greedy, as generate: the same flags give the same tokens
  int64_t top_k = 0;
  double top_p = 1.0;
  uint64_t seed = 0;
  bool ignore_eos = false;
  std::string stop_token_ids;
  int64_t top_logprobs = 0;
  bool json = false;
  double timeout_s = 0;  // 0: no deadline
  double connect_timeout_s = 10;
  int concurrency = 64;
  ClientSecurityFlags security;
};

struct Outcome {
  std::vector<int64_t> tokens;
  std::vector<std::vector<std::pair<int64_t, float>>> top_logprobs;
  std::string finish_reason;
  std::optional<Error> error;
  double ttft_s = 0, total_s = 0;
};

std::vector<int64_t> parse_stop_ids(const std::string& text) {
  if (text.empty()) return {};
  GenerateFlags g;  // the same parser as --prompt-ids, so the same messages
  g.prompt_ids = text;
  try {
    return generate_job_requests(g).front().prompt;
  } catch (const Error& e) {
    fail(e.code(), "--stop-token-ids: ", e.what());
  }
}

v1::GenerateRequest make_request(const ClientFlags& f, const std::vector<int64_t>& prompt,
                                 const std::vector<int64_t>& stop, size_t index) {
  v1::GenerateRequest r;
  r.mutable_prompt_token_ids()->Add(prompt.begin(), prompt.end());
  r.mutable_sampling()->set_temperature(f.temperature);
  r.mutable_sampling()->set_top_k(f.top_k);
  r.mutable_sampling()->set_top_p(f.top_p);
  r.mutable_sampling()->set_seed(f.seed + index);  // as generate: prompt i gets seed + i
  r.set_max_tokens(f.max_tokens);
  r.mutable_stop_token_ids()->Add(stop.begin(), stop.end());
  r.set_ignore_eos(f.ignore_eos);
  r.set_top_logprobs(f.top_logprobs);
  r.set_request_id("client-" + std::to_string(getpid()) + "-" + std::to_string(index));
  return r;
}

Outcome run_one(rpc::InferenceClient& client, const v1::GenerateRequest& request,
                const ClientFlags& f, bool stream_text) {
  Outcome o;
  const auto start = Clock::now();
  std::optional<std::chrono::milliseconds> timeout;
  if (f.timeout_s > 0) timeout = std::chrono::milliseconds(static_cast<int64_t>(f.timeout_s * 1e3));
  try {
    client.generate(request, [&](const v1::GenerateResponse& response) {
      if (o.tokens.empty() && response.tokens_size() > 0)
        o.ttft_s = std::chrono::duration<double>(Clock::now() - start).count();
      for (const v1::Token& t : response.tokens()) {
        o.tokens.push_back(t.token_id());
        if (request.top_logprobs() > 0) {
          auto& step = o.top_logprobs.emplace_back();
          for (const v1::TopLogprob& top : t.top_logprobs())
            step.emplace_back(top.token_id(), top.logprob());
        }
        if (stream_text) {
          std::printf("%s%lld", o.tokens.size() == 1 ? "" : ",",
                      static_cast<long long>(t.token_id()));
          std::fflush(stdout);
        }
      }
      if (!response.finish_reason().empty()) o.finish_reason = response.finish_reason();
    }, timeout);
  } catch (const Error& e) {
    o.error = e;
  }
  o.total_s = std::chrono::duration<double>(Clock::now() - start).count();
  return o;
}

void print_json(size_t index, const std::vector<int64_t>& prompt, const Outcome& o) {
  nlohmann::json line = {{"index", index},
                         {"prompt_ids", prompt},
                         {"tokens", o.tokens},
                         {"finish_reason", o.finish_reason}};
  nlohmann::json logprobs = nlohmann::json::array();
  for (const auto& step : o.top_logprobs) {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& [id, lp] : step) entries.push_back({id, lp});
    logprobs.push_back(entries);
  }
  line["top_logprobs"] = logprobs;
  std::printf("%s\n", line.dump().c_str());
}

void print_timing(size_t index, const Outcome& o) {
  const size_t n = o.tokens.size();
  const double tpot = n > 1 ? (o.total_s - o.ttft_s) / static_cast<double>(n - 1) : 0.0;
  std::fprintf(stderr, "[%zu] %zu tokens in %.1f ms: time to first token %.1f ms, %.2f ms per "
               "output token after it\n", index, n, o.total_s * 1e3, o.ttft_s * 1e3, tpot * 1e3);
}

int run_client(const ClientFlags& f) {
  GenerateFlags g;  // reuse generate's prompt parsing: same flags, same messages
  g.prompt_ids = f.prompt_ids;
  g.prompts_file = f.prompts_file;
  std::vector<std::vector<int64_t>> prompts;
  for (auto& r : generate_job_requests(g)) prompts.push_back(std::move(r.prompt));
  const std::vector<int64_t> stop = parse_stop_ids(f.stop_token_ids);
  MLA_ENSURE(f.concurrency >= 1, kInvalidArgument, "--concurrency must be >= 1, got ",
             f.concurrency);
  MLA_ENSURE(f.connect_timeout_s > 0, kInvalidArgument, "--connect-timeout must be positive");

  const rpc::ClientSecurity security = load_client_security(f.security);

  rpc::InferenceClient client(
      f.addr, std::chrono::milliseconds(static_cast<int64_t>(f.connect_timeout_s * 1e3)),
      security);
  const bool stream_text = !f.json && prompts.size() == 1;
  std::vector<Outcome> outcomes(prompts.size());
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  const size_t n_threads = std::min<size_t>(prompts.size(), static_cast<size_t>(f.concurrency));
  for (size_t t = 0; t < n_threads; ++t)
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < prompts.size();)
        outcomes[i] = run_one(client, make_request(f, prompts[i], stop, i), f, stream_text);
    });
  for (auto& t : threads) t.join();

  // stdout first and flushed, then stderr: callers that merge the two get whole lines.
  for (size_t i = 0; i < prompts.size(); ++i) {
    const Outcome& o = outcomes[i];
    if (o.error) {
      if (stream_text) std::printf("\n");
    } else if (f.json) {
      print_json(i, prompts[i], o);
    } else if (stream_text) {
      std::printf(" (%s)\n", o.finish_reason.c_str());
    } else {
      std::string tokens;
      for (int64_t t : o.tokens) tokens += (tokens.empty() ? "" : ",") + std::to_string(t);
      std::printf("[%zu] %s (%s)\n", i, tokens.c_str(), o.finish_reason.c_str());
    }
  }
  std::fflush(stdout);
  int rc = kExitOk;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const Outcome& o = outcomes[i];
    if (o.error) {
      std::fprintf(stderr, "mlaserve: error: [%zu] %s\n", i, o.error->what());
      if (rc == kExitOk) rc = exit_code_for(o.error->code());
    } else {
      print_timing(i, o);
    }
  }
  return rc;
}

}  // namespace

void add_client_command(CLI::App& app, std::function<int()>& action) {
  auto f = std::make_shared<ClientFlags>();
  CLI::App* cmd = app.add_subcommand("client", "Stream tokens from a running `mlaserve serve`");
  cmd->add_option("--addr", f->addr, "The server's HOST:PORT")->required();
  auto* ids = cmd->add_option("--prompt-ids", f->prompt_ids, "Comma-separated token ids");
  auto* file = cmd->add_option("--prompts-file", f->prompts_file,
                               "JSONL, one {\"prompt_ids\": [...]} per line; sent concurrently");
  ids->excludes(file);
  cmd->add_option("--max-tokens,--max-new-tokens", f->max_tokens, "Tokens to generate per prompt")
      ->capture_default_str();
  cmd->add_option("--temperature", f->temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", f->top_k, "0 = no limit")->capture_default_str();
  cmd->add_option("--top-p", f->top_p, "Nucleus sampling mass")->capture_default_str();
  cmd->add_option("--seed", f->seed, "Sampling seed; prompt i of a file samples with seed + i, as in generate")->capture_default_str();
  cmd->add_flag("--ignore-eos", f->ignore_eos, "Do not stop at the eos token");
  cmd->add_option("--stop-token-ids", f->stop_token_ids, "Comma-separated ids that end a request");
  cmd->add_option("--top-logprobs", f->top_logprobs, "Report the K most likely tokens per step")
      ->capture_default_str();
  cmd->add_flag("--json", f->json, "One JSON line per prompt, as generate --json prints");
  cmd->add_option("--timeout", f->timeout_s, "Per-request deadline in seconds (0: none)")
      ->capture_default_str();
  cmd->add_option("--connect-timeout", f->connect_timeout_s, "Seconds to wait for the server")
      ->capture_default_str();
  cmd->add_option("--concurrency", f->concurrency, "Requests in flight at once")
      ->capture_default_str();
  add_client_security_options(*cmd, f->security);
  cmd->callback([f, &action] { action = [f] { return run_client(*f); }; });
}

}  // namespace mlaserve
