#include "launcher/commands/engine_flags.h"

#include <sstream>

#include "CLI/CLI.hpp"
#include "runtime/core/error.h"
#include "runtime/engine/cache_budget.h"

namespace mlaserve {

void add_engine_options(CLI::App& cmd, EngineFlags& f) {
  cmd.add_option("--max-num-batched-tokens", f.max_num_batched_tokens,
                 "Tokens per forward pass over all sequences (longer prompts are prefilled in "
                 "chunks)")
      ->capture_default_str();
  cmd.add_option("--max-num-seqs", f.max_num_seqs, "Sequences running at once")
      ->capture_default_str();
  auto* memory = cmd.add_option(
      "--kv-cache-memory", f.kv_cache_memory,
      "Latent-cache budget, e.g. 512MiB (default: enough for every prompt at once)");
  cmd.add_option("--kv-cache-fraction", f.kv_cache_fraction,
                 "Latent-cache budget as a share of the memory available now (0 < F <= 1)")
      ->excludes(memory);
  cmd.add_option("--block-size", f.block_size, "Tokens per cache block")->capture_default_str();
  cmd.add_flag("--no-prefix-caching", f.no_prefix_caching,
               "Do not share cached prompt blocks between requests");
  cmd.add_option("--gpu-memory-utilization", f.gpu_memory_utilization,
                 "With --device cuda: share of each GPU's memory a worker may use for weights, "
                 "latent cache and workspace (0 < U <= 1); the cache gets what is left")
      ->capture_default_str();
}

std::vector<std::string> engine_args(const EngineFlags& f) {
  std::ostringstream fraction;
  fraction.precision(17);
  fraction << f.kv_cache_fraction;
  std::vector<std::string> a = {"--max-num-batched-tokens", std::to_string(f.max_num_batched_tokens),
                                "--max-num-seqs", std::to_string(f.max_num_seqs), "--block-size",
                                std::to_string(f.block_size)};
  if (!f.kv_cache_memory.empty()) a.insert(a.end(), {"--kv-cache-memory", f.kv_cache_memory});
  if (f.kv_cache_fraction != 0) a.insert(a.end(), {"--kv-cache-fraction", fraction.str()});
  if (f.no_prefix_caching) a.push_back("--no-prefix-caching");
  std::ostringstream utilization;
  utilization.precision(17);
  utilization << f.gpu_memory_utilization;
  a.insert(a.end(), {"--gpu-memory-utilization", utilization.str()});
  return a;
}

GenerateOptions engine_options(const EngineFlags& f, DType cache_dtype) {
  MLA_ENSURE(f.block_size >= 1, kInvalidArgument, "--block-size must be >= 1, got ",
             f.block_size);
  MLA_ENSURE(f.max_num_batched_tokens >= 1, kInvalidArgument,
             "--max-num-batched-tokens must be >= 1, got ", f.max_num_batched_tokens);
  MLA_ENSURE(f.max_num_seqs >= 1, kInvalidArgument, "--max-num-seqs must be >= 1, got ",
             f.max_num_seqs);
  MLA_ENSURE(f.gpu_memory_utilization > 0 && f.gpu_memory_utilization <= 1, kInvalidArgument,
             "--gpu-memory-utilization must be in (0, 1], got ", f.gpu_memory_utilization);
  GenerateOptions o;
  o.cache_dtype = cache_dtype;
  o.block_size = f.block_size;
  o.prefix_caching = !f.no_prefix_caching;
  o.scheduler.max_num_batched_tokens = f.max_num_batched_tokens;
  o.scheduler.max_num_seqs = f.max_num_seqs;
  o.gpu_memory_utilization = f.gpu_memory_utilization;
  if (!f.kv_cache_memory.empty()) {
    o.kv_cache_bytes = parse_byte_size("--kv-cache-memory", f.kv_cache_memory);
    MLA_ENSURE(o.kv_cache_bytes > 0, kInvalidArgument, "--kv-cache-memory must be positive");
  }
  if (f.kv_cache_fraction != 0)
    o.kv_cache_bytes = kv_budget_from_fraction(f.kv_cache_fraction, available_memory_bytes());
  return o;
}

}  // namespace mlaserve
