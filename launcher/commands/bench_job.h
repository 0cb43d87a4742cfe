#pragma once
// The `bench decode` and `bench throughput` jobs: flags, and the timed loop run through a StepExecutor, so that
// `mlaserve bench decode --tp T` runs it on the leader of T workers (`mlaserve worker ... bench
// decode`) while the followers mirror its steps.
#include <cstdint>
#include <string>
#include <vector>

#include "launcher/commands/engine_flags.h"
#include "launcher/commands/parallel_flags.h"
#include "parallel/timed_communicator.h"
#include "runtime/engine/step_executor.h"

namespace CLI {
class App;
}

namespace mlaserve {

struct BenchFlags {
  std::string model;
  std::string batch = "1,8,32";
  int64_t prompt_len = 128;
  int64_t new_tokens = 64;
  int64_t prefill_len = 512;
  std::string dtype = "float32";
};

void add_bench_decode_options(CLI::App& cmd, BenchFlags& flags);
std::vector<std::string> bench_decode_job_args(const BenchFlags& flags);
DType bench_dtype(const BenchFlags& flags);
std::vector<int64_t> bench_batches(const BenchFlags& flags);  // kInvalidArgument naming --batch

// The groups a TP run times (both null for a single process).
struct BenchGroups {
  parallel::TimedCommunicator* tp_group = nullptr;
  parallel::TimedCommunicator* control = nullptr;
  int rank = 0;
  int tp = 1;
};

// Prints the figures on stdout. The machine probes (memory bandwidth, sgemm) run only for a
// single process: with --tp the followers would wait on the leader for seconds, and the ranks
// share the machine's bandwidth anyway.
int run_bench_decode_job(const BenchFlags& flags, const DeepseekV2Model& model,
                         StepExecutor& executor, const BenchGroups& groups);

// `bench throughput`: offline serving throughput through the Engine, like vLLM's
// benchmark_throughput (random prompt ids, ignore_eos, every request submitted at once).
struct ThroughputFlags {
  std::string model;
  int64_t num_prompts = 200;
  int64_t input_len = 128;
  int64_t output_len = 128;
  uint64_t seed = 0;  // of the random prompt ids
  std::string dtype = "float32";
  EngineFlags engine;
};

void add_bench_throughput_options(CLI::App& cmd, ThroughputFlags& flags);
std::vector<std::string> bench_throughput_job_args(const ThroughputFlags& flags);
// Checks the flags (kInvalidArgument naming the flag); the activation and cache dtype.
DType bench_throughput_dtype(const ThroughputFlags& flags);
// Prints the figures on stdout.
int run_bench_throughput_job(const ThroughputFlags& flags, const DeepseekV2Model& model,
                             StepExecutor& executor);
// One process, or `tp` workers through the launcher (rank 0 prints the figures), on `device`
// (--device: cpu or cuda).
int run_bench_throughput(const ThroughputFlags& flags, const ParallelFlags& parallel,
                         const std::string& device);

}  // namespace mlaserve
