// `mlaserve bench decode` (and the `bench` command, whose `throughput` job is in
// bench_throughput.cc): CPU decode and prefill throughput of the forward pass, with the
// machine's own memory-bandwidth and sgemm figures measured in the same process, so the
// "effective bandwidth" (weight bytes a step reads / step time) and achieved GFLOP/s can be read
// against them. Both are counted by the ops (runtime/ops/work_count.h) from the shapes they ran.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "kernels/cpu/gemm.h"
#include "launcher/commands/bench_job.h"
#include "launcher/commands/commands.h"
#include "launcher/commands/device_flag.h"
#include "launcher/commands/parallel_flags.h"
#include "launcher/decode_step_report.h"
#include "launcher/local_launch.h"
#include "launcher/worker_device.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/model/deepseek_v2.h"
#include "runtime/ops/transfer.h"
#include "runtime/ops/work_count.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/probes.h"
#endif

namespace mlaserve {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Read bandwidth: sums a 256 MiB buffer (far beyond any cache) split over the pool. Best of 5.
double memory_bandwidth_gbs() {
  const int64_t n = (int64_t{256} << 20) / sizeof(float);
  std::vector<float> buf(n, 1.0f);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<double> partial(ThreadPool::global().num_threads() * 16 + 16, 0.0);
    const auto t0 = Clock::now();
    parallel_for(0, n, 1 << 20, [&](int64_t b, int64_t e) {
      float acc[8] = {};
      for (int64_t i = b; i < e; i += 8)
        for (int k = 0; k < 8 && i + k < e; ++k) acc[k] += buf[i + k];
      double sum = 0;
      for (float a : acc) sum += a;
      partial[(b / (1 << 20)) % partial.size()] += sum;
    });
    best = std::max(best, n * sizeof(float) / seconds_since(t0) / 1e9);
    if (partial[0] < 0) std::printf(" ");  // keeps the sums alive
  }
  return best;
}

// sgemm throughput on 1024^3 (f32 weights), split over output features on the pool. Best of 3.
double sgemm_gflops() {
  const int64_t m = 1024, n = 1024, k = 1024;
  std::vector<float> x(m * k, 0.5f), w(n * k, 0.25f), y(m * n);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    parallel_for(0, n, cpu::kGemmPanelRows, [&](int64_t b, int64_t e) {
      cpu::gemm_f32(x.data(), k, m, w.data(), k, k, y.data(), n, b, e);
    });
    best = std::max(best, 2.0 * m * n * k / seconds_since(t0) / 1e9);
  }
  return best;
}

std::vector<int64_t> random_tokens(std::mt19937& rng, int64_t n, int64_t vocab) {
  std::uniform_int_distribution<int64_t> dist(2, vocab - 1);  // skip bos / eos
  std::vector<int64_t> ids(n);
  for (auto& id : ids) id = dist(rng);
  return ids;
}

}  // namespace

DType bench_dtype(const BenchFlags& f) {
  const DType dtype = parse_dtype(f.dtype);
  MLA_ENSURE(dtype == DType::kF32 || dtype == DType::kBF16, kInvalidArgument,
             "--dtype must be float32 or bfloat16, got ", f.dtype);
  MLA_ENSURE(f.prompt_len >= 1 && f.new_tokens >= 1 && f.prefill_len >= 1, kInvalidArgument,
             "--prompt-len, --new-tokens and --prefill-len must be >= 1");
  return dtype;
}

std::vector<int64_t> bench_batches(const BenchFlags& f) {
  std::vector<int64_t> batches;
  for (size_t start = 0; start <= f.batch.size();) {
    const size_t comma = std::min(f.batch.find(',', start), f.batch.size());
    const std::string item = f.batch.substr(start, comma - start);
    int64_t b = 0;
    try {
      b = std::stoll(item);
    } catch (const std::exception&) {
    }
    MLA_ENSURE(b >= 1, kInvalidArgument, "--batch: '", item, "' is not a positive batch size");
    batches.push_back(b);
    start = comma + 1;
  }
  return batches;
}

std::vector<std::string> bench_decode_job_args(const BenchFlags& f) {
  return {"--model", f.model, "--batch", f.batch, "--prompt-len", std::to_string(f.prompt_len),
          "--new-tokens", std::to_string(f.new_tokens), "--prefill-len",
          std::to_string(f.prefill_len), "--dtype", f.dtype};
}

int run_bench_decode_job(const BenchFlags& f, const DeepseekV2Model& model,
                         StepExecutor& executor, const BenchGroups& groups) {
  const DType dtype = bench_dtype(f);
  const std::vector<int64_t> batches = bench_batches(f);
  const ModelConfig& c = model.config();
  MLA_ENSURE(f.prompt_len + f.new_tokens <= c.max_position_embeddings &&
                 f.prefill_len <= c.max_position_embeddings,
             kInvalidArgument, "prompt + new tokens exceed max_position_embeddings = ",
             c.max_position_embeddings);
  std::printf("threads %d, activations/cache %s, tp %d\n", ThreadPool::global().num_threads(),
              std::string(dtype_name(dtype)).c_str(), groups.tp);
  const bool probes = groups.tp_group == nullptr;
  const Device device = model.device();
  double mem_gbs = 0, gflops = 0;
  if (probes && device.is_cpu()) {
    mem_gbs = memory_bandwidth_gbs();
    gflops = sgemm_gflops();
    std::printf("probe: memory read bandwidth %.1f GB/s, sgemm 1024^3 %.1f GFLOP/s\n", mem_gbs,
                gflops);
  } else if (probes) {
#if MLASERVE_WITH_CUDA
    // The GPU's own roofline, measured here: HBM read bandwidth over 1 GiB (far beyond L2) and
    // the cuBLAS bf16 GEMM the linear layers use. Percentages below are of these.
    mem_gbs = cuda::hbm_read_gbps(device.index, size_t{1} << 30, 10);
    gflops = 1e3 * cuda::bf16_gemm_tflops(device.index, 4096, 4096, 4096, 10);
    std::printf("probe: %s HBM read bandwidth %.1f GB/s, cuBLAS bf16 GEMM 4096^3 %.1f TFLOP/s\n",
                device.name().c_str(), mem_gbs, gflops / 1e3);
#endif
  }
  DecodeStepReport report;
  auto snapshot = [](const parallel::TimedCommunicator* g) {
    return g ? g->stats() : parallel::CommunicationStats{};
  };

  std::mt19937 rng(1234);
  for (int64_t b : batches) {
    KvCache cache(c, b * ((f.prompt_len + f.new_tokens + 63) / 64), 64, dtype, device);
    executor.setup_cache(cache);
    std::vector<std::vector<int32_t>> tables(b);
    std::vector<std::vector<int64_t>> feed(b);
    ForwardBatch prefill;
    for (int64_t i = 0; i < b; ++i) {
      feed[i] = random_tokens(rng, f.prompt_len, c.vocab_size);
      cache.reserve(tables[i], f.prompt_len + f.new_tokens);
      prefill.sequences.push_back({feed[i], 0, &tables[i]});
    }
    // The greedy feed is picked on the host: to_cpu is the tensor itself on the CPU, and on a
    // GPU the copy waits for the step (the rows are what a sampler would read back anyway).
    Tensor logits = ops::to_cpu(executor.forward(prefill, cache));
    double total = 0;
    // Counted by the ops themselves: only what the steps actually computed and read.
    ops::WorkCount work;
    for (int64_t step = 0; step < f.new_tokens; ++step) {
      ForwardBatch batch;
      for (int64_t i = 0; i < b; ++i) {
        const float* row = logits.data<float>() + i * c.vocab_size;
        feed[i] = {std::max_element(row, row + c.vocab_size) - row};
        batch.sequences.push_back({feed[i], f.prompt_len + step, &tables[i]});
      }
      const auto tp_before = snapshot(groups.tp_group);
      const auto control_before = snapshot(groups.control);
      const auto t0 = Clock::now();
      {
        ops::CountWork counting(work);
        logits = ops::to_cpu(executor.forward(batch, cache));
      }
      const double step_seconds = seconds_since(t0);
      total += step_seconds;
      report.record(b, step_seconds, snapshot(groups.tp_group) - tp_before,
                    snapshot(groups.control) - control_before);
    }
    const double ms_step = 1e3 * total / f.new_tokens;
    const double bytes = work.weight_bytes, flops = work.flops;
    const double gbs = bytes / total / 1e9, achieved = flops / total / 1e9;
    if (probes)
      std::printf("decode batch %3lld: %8.1f tokens/s, %8.2f ms/step, weights %.1f MB/step, "
                  "effective bandwidth %.1f GB/s (%.0f%% of probe), %.1f GFLOP/s (%.0f%% of "
                  "GEMM probe)%s\n",
                  static_cast<long long>(b), b * f.new_tokens / total, ms_step,
                  bytes / f.new_tokens / 1e6, gbs, 100 * gbs / mem_gbs, achieved,
                  100 * achieved / gflops,
                  // The GPU's grouped expert GEMMs learn their token counts on the device, so
                  // the host counts everything but the routed experts there.
                  device.is_cpu() ? "" : " [routed experts not counted on GPU]");
    else
      std::printf("decode batch %3lld: %8.1f tokens/s, %8.2f ms/step, weights %.1f MB/step "
                  "on rank 0, %.1f GB/s, %.1f GFLOP/s\n",
                  static_cast<long long>(b), b * f.new_tokens / total, ms_step,
                  bytes / f.new_tokens / 1e6, gbs, achieved);
  }

  if (!probes) report.print(stdout, c, groups.rank, groups.tp);
  KvCache cache(c, (f.prefill_len + 63) / 64, 64, dtype, device);
  executor.setup_cache(cache);
  std::vector<int32_t> table;
  cache.reserve(table, f.prefill_len);
  ForwardBatch prefill;
  prefill.sequences.push_back({random_tokens(rng, f.prefill_len, c.vocab_size), 0, &table});
  const auto t0 = Clock::now();
  ops::to_cpu(executor.forward(prefill, cache));  // on a GPU: waits for the step
  const double secs = seconds_since(t0);
  std::printf("prefill %lld tokens: %.1f tokens/s (%.1f ms)\n",
              static_cast<long long>(f.prefill_len), f.prefill_len / secs, 1e3 * secs);
  return 0;
}

namespace {

int run_bench_decode(const BenchFlags& f, const ParallelFlags& p, const std::string& device) {
  bench_dtype(f);
  bench_batches(f);
  if (p.single_process()) {
    const Device on = prepare_single_process_device(device);
    auto model = DeepseekV2Model::load(f.model, bench_dtype(f), {}, on);
    LocalStepExecutor local(*model);
    return run_bench_decode_job(f, *model, local, {});
  }
  LocalLaunch launch{p.tp, p.ep, p.timeout_s, device, {"bench", "decode"}};
  const std::vector<std::string> args = bench_decode_job_args(f);
  launch.job_args.insert(launch.job_args.end(), args.begin(), args.end());
  return launch_local_workers(f.model, launch);
}

}  // namespace

void add_bench_decode_options(CLI::App& app, BenchFlags& f) {
  CLI::App* cmd = &app;
  cmd->add_option("--model", f.model, "Checkpoint directory")->required();
  cmd->add_option("--batch", f.batch, "Comma-separated batch sizes")->capture_default_str();
  cmd->add_option("--prompt-len", f.prompt_len, "Prompt tokens per sequence before decoding")
      ->capture_default_str();
  cmd->add_option("--new-tokens", f.new_tokens, "Decode steps timed")->capture_default_str();
  cmd->add_option("--prefill-len", f.prefill_len, "Tokens of the timed single prefill")
      ->capture_default_str();
  cmd->add_option("--dtype", f.dtype, "float32 or bfloat16")->capture_default_str();
}

void add_bench_command(CLI::App& app, std::function<int()>& action) {
  auto flags = std::make_shared<BenchFlags>();
  auto parallel = std::make_shared<ParallelFlags>();
  auto device = std::make_shared<std::string>("cpu");
  CLI::App* bench = app.add_subcommand("bench", "Measure throughput");
  bench->require_subcommand(1);
  CLI::App* cmd =
      bench->add_subcommand("decode", "Decode / prefill throughput of the forward pass");
  add_bench_decode_options(*cmd, *flags);
  add_parallel_options(*cmd, *parallel,
                       "Tensor-parallel ranks: > 1 runs that many worker processes and reports "
                       "compute / communication time and bytes per rank");
  add_device_option(*cmd, *device);
  cmd->callback([flags, parallel, device, &action] {
    action = [flags, parallel, device] { return run_bench_decode(*flags, *parallel, *device); };
  });

  auto throughput = std::make_shared<ThroughputFlags>();
  CLI::App* tput = bench->add_subcommand(
      "throughput", "Offline serving throughput of the engine on random prompts (like vLLM's)");
  add_bench_throughput_options(*tput, *throughput);
  add_parallel_options(*tput, *parallel, "Tensor-parallel ranks (worker processes)");
  add_device_option(*tput, *device);
  tput->callback([throughput, parallel, device, &action] {
    action = [throughput, parallel, device] {
      return run_bench_throughput(*throughput, *parallel, *device);
    };
  });
}

}  // namespace mlaserve
