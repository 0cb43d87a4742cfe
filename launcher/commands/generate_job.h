#pragma once
// The generation job: its flags, how to parse its prompts, how to run it through a StepExecutor
// and print the results. Shared by `mlaserve generate` (single process, or the launcher that
// validates and forwards the flags) and `mlaserve worker ... generate` (the TP leader runs it).
#include <cstdint>
#include <string>
#include <vector>

#include "launcher/commands/engine_flags.h"
#include "runtime/engine/generator.h"

namespace CLI {
class App;
}

namespace mlaserve {

struct GenerateFlags {
  std::string model;
  std::string prompt_ids;
  std::string prompts_file;
  int64_t max_new_tokens = 16;
  double temperature = 0.0;
  int64_t top_k = 0;
  double top_p = 1.0;
  uint64_t seed = 0;
  bool ignore_eos = false;
  int64_t top_logprobs = 0;
  std::string dump_logits;
  bool json = false;
  std::string dtype = "float32";
  EngineFlags engine;
};

void add_generate_job_options(CLI::App& cmd, GenerateFlags& flags);
// The flags as command-line arguments that add_generate_job_options parses back to `flags`
// (how the launcher hands the job to its workers).
std::vector<std::string> generate_job_args(const GenerateFlags& flags);

// Checks --dtype and the prompts (kInvalidArgument / kNotFound naming the flag or file line).
DType generate_job_dtype(const GenerateFlags& flags);
std::vector<GenerationRequest> generate_job_requests(const GenerateFlags& flags);
// The engine settings the flags ask for (kInvalidArgument naming the flag).
GenerateOptions generate_job_options(const GenerateFlags& flags);

// Generates through `executor` and prints (stdout: one line per prompt; --dump-logits files).
// `cache_checksum`, when given, receives the checksum of the cache after the last step.
int run_generate_job(const GenerateFlags& flags, const DeepseekV2Model& model,
                     StepExecutor& executor, uint64_t* cache_checksum = nullptr);

}  // namespace mlaserve
