// `mlaserve bench throughput`: requests/s and tokens/s of the Engine on random prompts, the time
// each step spends outside the forward pass (scheduling, plan building, sampling) by how many
// sequences were decoding, the latent cache's bytes per token (formula and as allocated), and
// peak resident memory.
#include <chrono>
#include <cstdio>
#include <map>
#include <random>

#include "CLI/CLI.hpp"
#include "launcher/commands/bench_job.h"
#include "launcher/local_launch.h"
#include "launcher/worker_device.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/engine/cache_budget.h"
#include "runtime/engine/engine.h"

namespace mlaserve {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct StepTotals {
  int64_t steps = 0;
  double seconds = 0, forward_seconds = 0;

  void add(double step, double forward) {
    ++steps;
    seconds += step;
    forward_seconds += forward;
  }
  void print(const char* what) const {
    const double outside = seconds - forward_seconds;
    std::printf("  %-22s %6lld steps, %8.2f ms/step, outside forward %7.3f ms/step (%.2f%%)\n",
                what, static_cast<long long>(steps), 1e3 * seconds / steps, 1e3 * outside / steps,
                100 * outside / seconds);
  }
};

// Decode-only steps are grouped by running sequences in 16s: 49-64 is the "64 running" row.
constexpr int64_t kBucket = 16;

}  // namespace

void add_bench_throughput_options(CLI::App& cmd, ThroughputFlags& f) {
  cmd.add_option("--model", f.model, "Checkpoint directory")->required();
  cmd.add_option("--num-prompts", f.num_prompts, "Requests, all submitted at once")
      ->capture_default_str();
  cmd.add_option("--input-len", f.input_len, "Prompt tokens per request (random ids)")
      ->capture_default_str();
  cmd.add_option("--output-len", f.output_len, "Tokens generated per request (eos ignored)")
      ->capture_default_str();
  cmd.add_option("--seed", f.seed, "Seed of the random prompts")->capture_default_str();
  cmd.add_option("--dtype", f.dtype, "Activations and KV cache: float32 or bfloat16")
      ->capture_default_str();
  add_engine_options(cmd, f.engine);
}

std::vector<std::string> bench_throughput_job_args(const ThroughputFlags& f) {
  std::vector<std::string> a = {"--model", f.model, "--num-prompts", std::to_string(f.num_prompts),
                                "--input-len", std::to_string(f.input_len), "--output-len",
                                std::to_string(f.output_len), "--seed", std::to_string(f.seed),
                                "--dtype", f.dtype};
  const std::vector<std::string> engine = engine_args(f.engine);
  a.insert(a.end(), engine.begin(), engine.end());
  return a;
}

DType bench_throughput_dtype(const ThroughputFlags& f) {
  const DType dtype = parse_dtype(f.dtype);
  MLA_ENSURE(dtype == DType::kF32 || dtype == DType::kBF16, kInvalidArgument,
             "--dtype must be float32 or bfloat16, got ", f.dtype);
  MLA_ENSURE(f.num_prompts >= 1, kInvalidArgument, "--num-prompts must be >= 1, got ",
             f.num_prompts);
  MLA_ENSURE(f.input_len >= 1, kInvalidArgument, "--input-len must be >= 1, got ", f.input_len);
  MLA_ENSURE(f.output_len >= 1, kInvalidArgument, "--output-len must be >= 1, got ",
             f.output_len);
  engine_options(f.engine, dtype);
  return dtype;
}

int run_bench_throughput_job(const ThroughputFlags& f, const DeepseekV2Model& model,
                             StepExecutor& executor) {
  const DType dtype = bench_throughput_dtype(f);
  const ModelConfig& c = model.config();
  MLA_ENSURE(f.input_len + f.output_len <= c.max_position_embeddings, kInvalidArgument,
             "--input-len + --output-len = ", f.input_len + f.output_len,
             " exceeds max_position_embeddings = ", c.max_position_embeddings);
  std::mt19937_64 rng(f.seed);
  std::uniform_int_distribution<int64_t> token(2, c.vocab_size - 1);  // skip bos / eos
  std::vector<GenerationRequest> requests(f.num_prompts);
  for (GenerationRequest& r : requests) {
    r.prompt.resize(f.input_len);
    for (int64_t& t : r.prompt) t = token(rng);
    r.max_new_tokens = f.output_len;
    r.ignore_eos = true;
  }
  const EngineConfig config = engine_config(c, engine_options(f.engine, dtype), requests);
  Engine engine(model, executor, config);
  for (size_t i = 0; i < requests.size(); ++i)
    engine.add_request(static_cast<RequestId>(i), engine_request(requests[i]));

  std::map<int64_t, StepTotals> decode;  // by (running - 1) / kBucket
  StepTotals mixed, all;
  int64_t peak_blocks = 0;
  const auto t0 = Clock::now();
  while (engine.has_unfinished()) {
    const auto s0 = Clock::now();
    engine.step();
    const double seconds = seconds_since(s0);  // with the outputs handed back
    const StepTiming& t = engine.last_step();
    if (t.num_seqs == 0) continue;  // only finished aborts or rejections to report
    all.add(seconds, t.forward_seconds);
    if (t.decode_only) decode[(t.num_seqs - 1) / kBucket].add(seconds, t.forward_seconds);
    else mixed.add(seconds, t.forward_seconds);
    peak_blocks = std::max(peak_blocks, engine.allocator().stats().in_use);
  }
  const double elapsed = seconds_since(t0);
  const EngineStats s = engine.stats();

  std::printf("bench throughput: %lld prompts x (%lld in + %lld out), %s, threads %d, block %lld, "
              "max-num-seqs %lld, max-num-batched-tokens %lld\n",
              static_cast<long long>(f.num_prompts), static_cast<long long>(f.input_len),
              static_cast<long long>(f.output_len), std::string(dtype_name(dtype)).c_str(),
              ThreadPool::global().num_threads(), static_cast<long long>(config.block_size),
              static_cast<long long>(config.scheduler.max_num_seqs),
              static_cast<long long>(config.scheduler.max_num_batched_tokens));
  std::printf("throughput: %.2f requests/s, %.1f output tokens/s, %.1f total tokens/s (%.2f s)\n",
              f.num_prompts / elapsed, s.generated_tokens / elapsed,
              (s.prompt_tokens + s.generated_tokens) / elapsed, elapsed);
  std::printf("engine: %llu steps, %llu preemptions, %llu tokens computed, prefix hit rate %.3f\n",
              static_cast<unsigned long long>(s.steps),
              static_cast<unsigned long long>(s.preemptions),
              static_cast<unsigned long long>(s.computed_tokens), s.prefix_hit_rate);
  std::printf("time outside the forward pass (scheduling, step plan, sampling, outputs):\n");
  all.print("all steps");
  if (mixed.steps > 0) mixed.print("steps with prefill");
  for (const auto& [bucket, totals] : decode) {
    char what[64];
    std::snprintf(what, sizeof what, "decode, %lld-%lld running",
                  static_cast<long long>(bucket * kBucket + 1),
                  static_cast<long long>((bucket + 1) * kBucket));
    totals.print(what);
  }

  // The formula, what the cache tensors hold per token slot, and with each request's last block
  // only partly used (a request caches input + output - 1 positions: the last token is not fed).
  const int64_t formula = kv_bytes_per_token(c, dtype);
  int64_t cache_bytes = 0;
  for (int64_t l = 0; l < engine.cache().num_layers(); ++l)
    cache_bytes += static_cast<int64_t>(engine.cache().layer(l).nbytes());
  const int64_t slots = engine.config().num_blocks * config.block_size;
  const int64_t cached = f.input_len + f.output_len - 1;
  const int64_t rounded = (cached + config.block_size - 1) / config.block_size * config.block_size;
  std::printf("kv cache: (kv_lora_rank %lld + rope %lld) x %zu bytes x %lld layers = %lld "
              "bytes/token; allocated %.1f bytes/token slot (%lld blocks, %.1f MiB), %.1f "
              "bytes/token with block rounding (%lld slots for %lld cached tokens); peak %lld "
              "blocks in use\n",
              static_cast<long long>(c.kv_lora_rank), static_cast<long long>(c.qk_rope_head_dim),
              dtype_size(dtype), static_cast<long long>(c.num_hidden_layers),
              static_cast<long long>(formula), static_cast<double>(cache_bytes) / slots,
              static_cast<long long>(engine.config().num_blocks), cache_bytes / 1048576.0,
              static_cast<double>(cache_bytes) / slots * rounded / cached,
              static_cast<long long>(rounded), static_cast<long long>(cached),
              static_cast<long long>(peak_blocks));
  std::printf("peak memory (VmHWM): %.1f MiB\n", peak_rss_bytes() / 1048576.0);
  return 0;
}

int run_bench_throughput(const ThroughputFlags& f, const ParallelFlags& p,
                         const std::string& device) {
  const DType dtype = bench_throughput_dtype(f);  // bad flags exit 2 before any process starts
  if (p.single_process()) {
    const Device on = prepare_single_process_device(device);
    auto model = DeepseekV2Model::load(f.model, dtype, {}, on);
    LocalStepExecutor local(*model);
    return run_bench_throughput_job(f, *model, local);
  }
  LocalLaunch launch{p.tp, p.ep, p.timeout_s, device, {"bench", "throughput"}};
  const std::vector<std::string> args = bench_throughput_job_args(f);
  launch.job_args.insert(launch.job_args.end(), args.begin(), args.end());
  return launch_local_workers(f.model, launch);
}

}  // namespace mlaserve
